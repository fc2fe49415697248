/*
 * jsonl_writer: writes each TABLE task to <path>/<task id>.jsonl (or
 * .jsonl.zst), one JSON object per row with every column in schema order, and
 * emits a FILES task naming the file written.
 *
 * The file is written under a temporary name in the same directory
 * (".<name>.tmp-<pid>-<tid>") and renamed into place once complete, so
 * readers never see a partial file; on any error the temporary file is
 * removed.  Strings are escaped as JSON requires (quotes, backslash, control
 * characters as \uXXXX) and invalid UTF-8 becomes U+FFFD, so the output is
 * always valid JSON.  Floats are written with the fewest digits that read
 * back to the same double (at most 17, "%.17g"), with ".0" added to integral
 * values so that they read back as floats; NaN and infinities become null.
 * A '/' in a task id becomes '_' in the file name, and a leading '.' too
 * (an empty id is written as "task").
 */
#include "build_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include <winnow/log.h>
#include <winnow/plugin.h>

#include "json_text.h"
#include "jsonl_writer.h"
#include "utf8.h"

#define STAGE_NAME "jsonl_writer"
#define FLUSH_BYTES ((size_t)1 << 20)

struct jsonl_writer {
    const char *dir; /* the path param: valid for the whole run */
    int compress;    /* nonzero: zstd */
    char *buf;       /* serialized rows not yet written; reused */
    size_t len, capacity;
#ifdef HAVE_ZSTD
    ZSTD_CCtx *cctx;
    unsigned char *zout;
    size_t zout_capacity;
#endif
};

/* One file being written. */
struct output_file {
    const char *temp_path;
    int fd;
};

/* ---- the row buffer -------------------------------------------------------- */

static int reserve(struct jsonl_writer *w, size_t extra)
{
    size_t capacity;
    char *buf;

    if (extra <= w->capacity - w->len)
        return 0;
    capacity = w->capacity ? w->capacity : FLUSH_BYTES + 4096;
    while (capacity - w->len < extra) {
        if (capacity > SIZE_MAX / 2)
            return WN_ENOMEM;
        capacity *= 2;
    }
    buf = realloc(w->buf, capacity);
    if (buf == NULL)
        return WN_ENOMEM;
    w->buf = buf;
    w->capacity = capacity;
    return 0;
}

/* Appends n bytes; the caller reserved room. */
static void put(struct jsonl_writer *w, const void *bytes, size_t n)
{
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
}

static int append(struct jsonl_writer *w, const void *bytes, size_t n)
{
    if (reserve(w, n) < 0)
        return WN_ENOMEM;
    put(w, bytes, n);
    return 0;
}

/* Appends s as a quoted JSON string.  Grows the buffer as it goes (a cell of
 * any size needs at most a little more than its escaped size). */
static int append_json_string(struct jsonl_writer *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const char *p = s, *end = s + len;

    if (append(w, "\"", 1) < 0)
        return WN_ENOMEM;
    while (p < end) {
        const char *run_end = io_json_find_special(p, end);
        unsigned char c;

        /* The plain run, then room for the longest single step: an escape (6
         * bytes) or a sequence (4). */
        if (reserve(w, (size_t)(run_end - p) + 16) < 0)
            return WN_ENOMEM;
        put(w, p, (size_t)(run_end - p));
        p = run_end;
        if (p == end)
            break;
        c = (unsigned char)*p;
        if (c < 0x80) {
            char esc[6] = { '\\', 0, 0, 0, 0, 0 };
            size_t n = 2;

            switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                n = 6;
                break;
            }
            put(w, esc, n);
            p++;
        } else {
            uint32_t cp;
            size_t n = stage_utf8_decode((const unsigned char *)p, (size_t)(end - p), &cp);

            if (cp == STAGE_UTF8_REPLACEMENT)
                put(w, "\xEF\xBF\xBD", 3); /* also for invalid bytes */
            else
                put(w, p, n);
            p += n;
        }
    }
    return append(w, "\"", 1);
}

static int append_int64(struct jsonl_writer *w, int64_t value)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRId64, value);

    return append(w, text, (size_t)n);
}

static int append_uint64(struct jsonl_writer *w, uint64_t value)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRIu64, value);

    return append(w, text, (size_t)n);
}

static int append_float64(struct jsonl_writer *w, double value)
{
    char text[40];
    int n = 0;

    if (!isfinite(value))
        return append(w, "null", 4);
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(text, sizeof(text), "%.*g", digits, value);
        if (digits == 17 || strtod(text, NULL) == value)
            break;
    }
    if (strpbrk(text, ".e") == NULL) {
        text[n++] = '.';
        text[n++] = '0';
        text[n] = '\0';
    }
    return append(w, text, (size_t)n);
}

/* ---- output files ---------------------------------------------------------- */

static int write_all(const struct output_file *file, const void *data, size_t len,
                     struct wn_error *err)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(file->fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return wn_error_set(err, WN_EIO, "cannot write %s: %s", file->temp_path,
                                strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the buffered rows (compressed when asked); end: finish the zstd frame. */
static int flush(struct jsonl_writer *w, const struct output_file *file, int end,
                 struct wn_error *err)
{
    int rc = 0;

#ifdef HAVE_ZSTD
    if (w->compress) {
        ZSTD_inBuffer in = { w->buf, w->len, 0 };
        size_t remaining;

        do {
            ZSTD_outBuffer out = { w->zout, w->zout_capacity, 0 };

            remaining =
                ZSTD_compressStream2(w->cctx, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(remaining))
                return wn_error_set(err, WN_EIO, "cannot compress %s: %s", file->temp_path,
                                    ZSTD_getErrorName(remaining));
            rc = write_all(file, w->zout, out.pos, err);
            if (rc < 0)
                return rc;
        } while (end ? remaining != 0 : in.pos < in.size);
        w->len = 0;
        return 0;
    }
#endif
    (void)end;
    rc = write_all(file, w->buf, w->len, err);
    w->len = 0;
    return rc;
}

/* Serializes every row of table into file. */
static int write_rows(struct jsonl_writer *w, const struct wn_table *table,
                      const struct output_file *file, struct wn_error *err)
{
    int64_t n_rows = wn_table_num_rows(table), n_cols = wn_table_num_columns(table);
    int rc = 0;

    for (int64_t row = 0; row < n_rows; row++) {
        rc = append(w, "{", 1);
        for (int64_t col = 0; col < n_cols && rc == 0; col++) {
            const char *name = wn_table_column_name(table, col);

            if (col > 0)
                rc = append(w, ",", 1);
            if (rc == 0)
                rc = append_json_string(w, name, strlen(name));
            if (rc == 0)
                rc = append(w, ":", 1);
            if (rc < 0)
                break;
            if (wn_table_is_null(table, col, row)) {
                rc = append(w, "null", 4);
                continue;
            }
            switch (wn_table_column_type(table, col)) {
            case WN_COLUMN_UTF8:
            case WN_COLUMN_LARGE_UTF8: {
                size_t len = 0;
                const char *s = wn_table_get_utf8(table, col, row, &len);

                rc = append_json_string(w, s, len);
                break;
            }
            case WN_COLUMN_INT32:
            case WN_COLUMN_INT64: rc = append_int64(w, wn_table_get_int64(table, col, row)); break;
            case WN_COLUMN_UINT32:
            case WN_COLUMN_UINT64:
                rc = append_uint64(w, wn_table_get_uint64(table, col, row));
                break;
            case WN_COLUMN_FLOAT64:
                rc = append_float64(w, wn_table_get_float64(table, col, row));
                break;
            case WN_COLUMN_BOOL:
                rc = wn_table_get_bool(table, col, row) ? append(w, "true", 4)
                                                        : append(w, "false", 5);
                break;
            case WN_COLUMN_FIXED_LIST_UINT32: {
                const uint32_t *values = wn_table_get_uint32_list(table, col, row);
                int32_t size = wn_table_column_list_size(table, col);

                rc = append(w, "[", 1);
                for (int32_t i = 0; i < size && rc == 0; i++) {
                    if (i > 0)
                        rc = append(w, ",", 1);
                    if (rc == 0)
                        rc = append_uint64(w, values[i]);
                }
                if (rc == 0)
                    rc = append(w, "]", 1);
                break;
            }
            case WN_COLUMN_OTHER:
            default:
                rc = WN_EINTERNAL; /* checked before writing */
                break;
            }
        }
        if (rc == 0)
            rc = append(w, "}\n", 2);
        if (rc < 0)
            return wn_error_set(err, rc == WN_ENOMEM ? WN_ENOMEM : WN_EINTERNAL,
                                "cannot serialize row %" PRId64 " for %s", row, file->temp_path);
        if (w->len >= FLUSH_BYTES) {
            rc = flush(w, file, 0, err);
            if (rc < 0)
                return rc;
        }
    }
    return flush(w, file, 1, err);
}

/* Refuses tables with columns the writer cannot serialize. */
static int check_columns(const struct wn_table *table, const char *task_id, struct wn_error *err)
{
    for (int64_t col = 0; col < wn_table_num_columns(table); col++) {
        if (wn_table_column_type(table, col) == WN_COLUMN_OTHER)
            return wn_error_set(err, WN_EUNSUPPORTED,
                                "task %s: column \"%s\" has Arrow format \"%s\", which JSON "
                                "Lines output does not support (supported: utf8, large_utf8, "
                                "integers, float64, bool, fixed-size lists of uint32)",
                                task_id, wn_table_column_name(table, col),
                                table->schema.children[col]->format);
    }
    return 0;
}

/* The file name for a task id: "<id>.jsonl[.zst]" with '/' and a leading '.' replaced. */
static char *file_name(const char *task_id, int compress)
{
    const char *ext = compress ? ".jsonl.zst" : ".jsonl";
    size_t len;
    char *name;

    if (task_id[0] == '\0')
        task_id = "task";
    len = strlen(task_id);
    name = malloc(len + strlen(ext) + 1);

    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        name[i] = (task_id[i] == '/' || (i == 0 && task_id[i] == '.')) ? '_' : task_id[i];
    strcpy(name + len, ext);
    return name;
}

/* Writes one task's table and builds the FILES task announcing it. */
static int write_task(struct jsonl_writer *w, const struct wn_task *in, struct wn_task **out,
                      struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(in);
    const char *id = wn_task_id(in);
    struct output_file file = { NULL, -1 };
    char *name = NULL, *final_path = NULL, *temp_path = NULL;
    struct wn_task *task = NULL;
    int rc;

    *out = NULL;
    if (table == NULL)
        return wn_error_set(err, WN_EINVAL, "task %s: expected a TABLE payload", id);
    rc = check_columns(table, id, err);
    if (rc < 0)
        return rc;
    name = file_name(id, w->compress);
    if (name == NULL || asprintf(&final_path, "%s/%s", w->dir, name) < 0) {
        final_path = NULL;
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    if (asprintf(&temp_path, "%s/.%s.tmp-%ld-%ld", w->dir, name, (long)getpid(),
                 (long)syscall(SYS_gettid)) < 0) {
        temp_path = NULL;
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    file.temp_path = temp_path;
    file.fd = open(temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (file.fd < 0) {
        rc = wn_error_set(err, WN_EIO, "task %s: cannot create %s: %s", id, temp_path,
                          strerror(errno));
        goto out_free;
    }
    w->len = 0;
#ifdef HAVE_ZSTD
    if (w->compress) {
        size_t zrc = ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);

        if (ZSTD_isError(zrc)) {
            rc = wn_error_set(err, WN_EIO, "cannot start zstd compression: %s",
                              ZSTD_getErrorName(zrc));
            goto out_remove;
        }
    }
#endif
    rc = write_rows(w, table, &file, err);
    if (rc < 0) {
        wn_error_prefix(err, "task %s", id);
        goto out_remove;
    }
    rc = close(file.fd);
    file.fd = -1;
    if (rc != 0) {
        rc = wn_error_set(err, WN_EIO, "task %s: cannot write %s: %s", id, temp_path,
                          strerror(errno));
        goto out_remove;
    }
    if (rename(temp_path, final_path) != 0) {
        rc = wn_error_set(err, WN_EIO, "task %s: cannot rename %s to %s: %s", id, temp_path,
                          final_path, strerror(errno));
        goto out_remove;
    }

    task = wn_task_new_child(in, 0);
    if (task == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    rc = wn_task_set_files(task, (const char *const *)&final_path, 1);
    if (rc < 0) {
        wn_task_free(task);
        rc = wn_error_set(err, rc, "task %s: cannot store the path written", id);
        goto out_free;
    }
    *out = task;
    rc = 0;
    goto out_free;

out_remove:
    if (file.fd >= 0)
        close(file.fd);
    if (unlink(temp_path) != 0 && errno != ENOENT)
        wn_log(WN_LOG_WARN, STAGE_NAME, "cannot remove %s: %s", temp_path, strerror(errno));
out_free:
    w->len = 0;
    free(temp_path);
    free(final_path);
    free(name);
    return rc;
}

/* mkdir -p: creates dir and its missing parents. */
static int make_directories(const char *dir, struct wn_error *err)
{
    char *path = strdup(dir);
    int rc = 0;

    if (path == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        {
            char saved = *p;
            struct stat st;

            *p = '\0';
            if (stat(path, &st) == 0) {
                if (!S_ISDIR(st.st_mode))
                    rc = wn_error_set(err, WN_EIO,
                                      "cannot create directory %s: a file of that "
                                      "name is in the way",
                                      path);
            } else if (mkdir(path, 0777) != 0 && errno != EEXIST) {
                rc = wn_error_set(err, WN_EIO, "cannot create directory %s: %s", path,
                                  strerror(errno));
            }
            *p = saved;
        }
        if (rc < 0 || *p == '\0')
            break;
    }
    free(path);
    return rc;
}

/* Creates the output directory once, before any actor exists, so that a run
 * whose writer receives nothing still leaves its (empty) output directory:
 * the next pipeline reading it then finds no rows rather than no directory. */
static int jsonl_writer_setup_on_node(const struct wn_stage_env *env, struct wn_error *err)
{
    const char *dir = wn_params_get_string(env->params, "path");
    int rc;

    if (dir == NULL || dir[0] == '\0')
        return wn_error_set(err, WN_ECONFIG, "path: give the output directory");
    rc = make_directories(dir, err);
    if (rc < 0)
        wn_error_prefix(err, "path");
    return rc;
}

static void jsonl_writer_destroy(void *state)
{
    struct jsonl_writer *w = state;

    if (w == NULL)
        return;
#ifdef HAVE_ZSTD
    ZSTD_freeCCtx(w->cctx);
    free(w->zout);
#endif
    free(w->buf);
    free(w);
}

static int jsonl_writer_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct jsonl_writer *w;
    const char *compression = wn_params_get_string(params, "compression");
    int rc;

    *state = NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    w->dir = wn_params_get_string(params, "path");
    w->compress = compression != NULL && strcmp(compression, "zstd") == 0;
    if (w->dir == NULL || w->dir[0] == '\0') {
        rc = wn_error_set(err, WN_ECONFIG, "path: give the output directory");
        goto out_destroy;
    }
    if (w->compress) {
#ifdef HAVE_ZSTD
        w->cctx = ZSTD_createCCtx();
        w->zout_capacity = ZSTD_CStreamOutSize();
        w->zout = malloc(w->zout_capacity);
        if (w->cctx == NULL || w->zout == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory");
            goto out_destroy;
        }
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, ZSTD_CLEVEL_DEFAULT);
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
#else
        rc = wn_error_set(err, WN_EUNSUPPORTED,
                          "compression: this winnow was built without zstd; use \"none\" or "
                          "rebuild with libzstd (Debian: libzstd-dev)");
        goto out_destroy;
#endif
    }
    rc = make_directories(w->dir, err);
    if (rc < 0) {
        wn_error_prefix(err, "path");
        goto out_destroy;
    }
    *state = w;
    return 0;

out_destroy:
    jsonl_writer_destroy(w);
    return rc;
}

static int jsonl_writer_process(void *state, struct wn_task **in, size_t n_in,
                                struct wn_emitter *out, struct wn_error *err)
{
    struct jsonl_writer *w = state;
    struct wn_task **outputs;
    int rc = 0;

    /* Emit only once every input is written, so a failed batch emits nothing. */
    outputs = calloc(n_in ? n_in : 1, sizeof(*outputs));
    if (outputs == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_in && rc == 0; i++)
        if (in[i] != NULL)
            rc = write_task(w, in[i], &outputs[i], err);
    for (size_t i = 0; i < n_in; i++) {
        if (outputs[i] == NULL)
            continue;
        if (rc < 0) {
            wn_task_free(outputs[i]);
            continue;
        }
        rc = wn_emit(out, outputs[i]);
        if (rc < 0)
            rc = wn_error_set(err, rc, "cannot emit the file written for task %s",
                              wn_task_id(in[i]));
    }
    free(outputs);
    return rc;
}

static const char *const compression_choices[] = { "none", "zstd", NULL };

static const struct wn_param_spec jsonl_writer_params[] = {
    { "path", WN_PARAM_STRING, WN_PARAM_REQUIRED, NULL, 0, 0, NULL,
      "output directory (created with its parents); one <task id>.jsonl per task" },
    { "compression", WN_PARAM_STRING, 0, "\"none\"", 0, 0, compression_choices,
      "\"none\" or \"zstd\" (writes .jsonl.zst)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops jsonl_writer_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .setup_on_node = jsonl_writer_setup_on_node,
    .create = jsonl_writer_create,
    .process_batch = jsonl_writer_process,
    .destroy = jsonl_writer_destroy,
};

const struct wn_stage_desc io_jsonl_writer_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "write each table to <path>/<task id>.jsonl (or .jsonl.zst), atomically",
    .params = jsonl_writer_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_FILES),
    .ops = &jsonl_writer_ops,
};
