/* wn_registry_*: plugin discovery, loading (libltdl), validation and lookup. */
#include "build_config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ltdl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "params_internal.h"
#include "registry.h"

#ifndef WN_PLUGIN_DIR
#error "WN_PLUGIN_DIR must be defined (Makefile.am passes it with -D)"
#endif

/*
 * Sizes of the descriptors as ABI 1.0 laid them out: a descriptor whose
 * struct_size is smaller is refused.  Frozen: when a later minor version
 * grows a struct, these stay, and the new fields are read only when the
 * descriptor's struct_size covers them.
 */
#define WN_PLUGIN_V1_SIZE ((uint32_t)sizeof(struct wn_plugin))
#define WN_STAGE_DESC_V1_SIZE ((uint32_t)sizeof(struct wn_stage_desc))
#define WN_BACKEND_DESC_V1_SIZE ((uint32_t)sizeof(struct wn_backend_desc))

/* Whether a descriptor of struct_size bytes holds field. */
#define WN_COVERS(size, type, field) ((size) >= offsetof(type, field) + sizeof(((type *)0)->field))

/* The entry symbols of later ABI majors looked for when v1 is missing. */
#define WN_ENTRY_MAJOR_MAX 9

/* libltdl keeps global state (lt_dlinit counter, lt_dlerror): every lt_*
 * call of the process goes through this mutex. */
static pthread_mutex_t wn_ltdl_mutex = PTHREAD_MUTEX_INITIALIZER;

/* One loaded (or static) plugin.  Held by pointer so that the public part
 * keeps its address while the list grows. */
struct registry_entry {
    struct wn_registry_plugin pub;
    lt_dlhandle handle; /* NULL for a static plugin */
};

/* A stage or backend name that lookups answer (shadowed ones are never here). */
struct stage_slot {
    const struct wn_stage_desc *desc;
    const struct registry_entry *owner;
};

struct backend_slot {
    const struct wn_backend_desc *desc;
    const struct registry_entry *owner;
};

struct wn_registry {
    struct registry_entry **plugins;
    size_t n_plugins, cap_plugins;
    struct wn_registry_failure *failures;
    size_t n_failures, cap_failures;
    struct stage_slot *stages;
    size_t n_stages, cap_stages;
    struct backend_slot *backends;
    size_t n_backends, cap_backends;
    char **paths; /* from wn_registry_add_path, in order */
    size_t n_paths, cap_paths;
    char **seen; /* real paths of every file tried, so that each loads once */
    size_t n_seen, cap_seen;
    int default_paths;
    int loaded;           /* wn_registry_load ran */
    int ltdl_initialised; /* this registry holds one lt_dlinit */
};

/* Makes room for one more element in *array (of *cap elements of size). */
static int grow(void *array, size_t *cap, size_t n, size_t size)
{
    void **slot = array;
    size_t new_cap;
    void *grown;

    if (n < *cap)
        return 0;
    new_cap = *cap ? *cap * 2 : 8;
    grown = realloc(*slot, new_cap * size);
    if (grown == NULL)
        return WN_ENOMEM;
    *slot = grown;
    *cap = new_cap;
    return 0;
}

struct wn_registry *wn_registry_new(void)
{
    struct wn_registry *registry = calloc(1, sizeof(*registry));

    if (registry != NULL)
        registry->default_paths = 1;
    return registry;
}

void wn_registry_free(struct wn_registry *registry)
{
    if (registry == NULL)
        return;
    /* Close in reverse order of loading: a later plugin may use an earlier one. */
    pthread_mutex_lock(&wn_ltdl_mutex);
    for (size_t i = registry->n_plugins; i-- > 0;)
        if (registry->plugins[i]->handle != NULL)
            lt_dlclose(registry->plugins[i]->handle);
    if (registry->ltdl_initialised)
        lt_dlexit();
    pthread_mutex_unlock(&wn_ltdl_mutex);

    for (size_t i = 0; i < registry->n_plugins; i++) {
        free((char *)registry->plugins[i]->pub.path);
        free(registry->plugins[i]);
    }
    for (size_t i = 0; i < registry->n_failures; i++) {
        free((char *)registry->failures[i].path);
        free((char *)registry->failures[i].message);
        free((char *)registry->failures[i].shadowed_by);
    }
    for (size_t i = 0; i < registry->n_paths; i++)
        free(registry->paths[i]);
    for (size_t i = 0; i < registry->n_seen; i++)
        free(registry->seen[i]);
    free(registry->paths);
    free(registry->seen);
    free(registry->plugins);
    free(registry->failures);
    free(registry->stages);
    free(registry->backends);
    free(registry);
}

int wn_registry_add_path(struct wn_registry *registry, const char *path)
{
    char *copy;

    if (registry == NULL || path == NULL || path[0] == '\0')
        return WN_EINVAL;
    if (grow(&registry->paths, &registry->cap_paths, registry->n_paths, sizeof(char *)) < 0)
        return WN_ENOMEM;
    copy = strdup(path);
    if (copy == NULL)
        return WN_ENOMEM;
    registry->paths[registry->n_paths++] = copy;
    return 0;
}

void wn_registry_set_default_paths(struct wn_registry *registry, int enabled)
{
    registry->default_paths = enabled;
}

/* ---- failure records ------------------------------------------------------ */

/* Records that path failed (or that one of its names is shadowed by
 * shadowed_by, which may be NULL).  Returns 0 or WN_ENOMEM. */
static int record_failure(struct wn_registry *registry, const char *path, int code,
                          const char *shadowed_by, const char *fmt, ...) WN_PRINTF(5, 6);

static int record_failure(struct wn_registry *registry, const char *path, int code,
                          const char *shadowed_by, const char *fmt, ...)
{
    struct wn_registry_failure *failure;
    char *message = NULL;
    va_list ap;
    int n;

    if (grow(&registry->failures, &registry->cap_failures, registry->n_failures, sizeof(*failure)) <
        0)
        return WN_ENOMEM;
    va_start(ap, fmt);
    n = vasprintf(&message, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WN_ENOMEM;
    failure = &registry->failures[registry->n_failures];
    failure->path = strdup(path);
    failure->message = message;
    failure->code = code;
    failure->shadowed_by = shadowed_by != NULL ? strdup(shadowed_by) : NULL;
    if (failure->path == NULL || (shadowed_by != NULL && failure->shadowed_by == NULL)) {
        free((char *)failure->path);
        free((char *)failure->shadowed_by);
        free(message);
        return WN_ENOMEM;
    }
    registry->n_failures++;
    return 0;
}

/* ---- descriptor validation ------------------------------------------------ */

/* Copies a name from a descriptor into buf for a message: at most 48
 * characters, anything unprintable shown as '?'. */
static const char *printable(const char *name, char *buf, size_t size)
{
    size_t i = 0;

    if (name == NULL)
        return "(null)";
    for (; name[i] != '\0' && i + 4 < size && i < 48; i++)
        buf[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    if (name[i] != '\0' && i + 4 <= size) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* Checks that name matches [a-z0-9_]+.  what ("plugin", "stages[1]", ...)
 * and field name it in the message. */
static int check_name(const char *origin, const char *what, const char *name, struct wn_error *err)
{
    char shown[64];

    if (name == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: name is NULL, expected a name matching [a-z0-9_]+", origin,
                            what);
    if (name[0] == '\0')
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: name is empty, expected a name matching [a-z0-9_]+", origin,
                            what);
    for (size_t i = 0; name[i] != '\0'; i++) {
        char c = name[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
            continue;
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: name '%s' has '%c' at offset %zu, expected only [a-z0-9_]",
                            origin, what, printable(name, shown, sizeof(shown)),
                            (c >= 0x20 && c < 0x7f) ? c : '?', i);
    }
    return 0;
}

/* Checks the three leading fields every descriptor has.  what names the
 * descriptor in messages ("plugin 'x'", "stages[2]"). */
static int check_header(const char *origin, const char *what, const char *type_name,
                        uint32_t abi_major, uint32_t abi_minor, uint32_t struct_size,
                        uint32_t v1_size, struct wn_error *err)
{
    if (abi_major != WN_ABI_MAJOR)
        return wn_error_set(err, WN_EABI,
                            "%s: %s: ABI %u.%u, expected %u.x: it was built for another major "
                            "version of winnow; rebuild it against winnow-%u",
                            origin, what, abi_major, abi_minor, WN_ABI_MAJOR, WN_ABI_MAJOR);
    if (abi_minor > WN_ABI_MINOR)
        return wn_error_set(err, WN_EABI,
                            "%s: %s: built against ABI %u.%u, this winnow provides %u.%u: "
                            "upgrade winnow",
                            origin, what, abi_major, abi_minor, WN_ABI_MAJOR, WN_ABI_MINOR);
    if (struct_size < v1_size)
        return wn_error_set(err, WN_EABI,
                            "%s: %s: struct_size %u, expected at least %u (struct %s of ABI "
                            "%u.0): the descriptor is truncated or was not built with the "
                            "winnow SDK headers",
                            origin, what, struct_size, v1_size, type_name, WN_ABI_MAJOR);
    return 0;
}

/* "stage 'x'" when name is given (the caller knows it may be read), else "stages[i]". */
static const char *describe(char *buf, size_t size, const char *kind, const char *array,
                            size_t index, const char *name)
{
    char shown[64];

    if (name != NULL)
        snprintf(buf, size, "%s '%s'", kind, printable(name, shown, sizeof(shown)));
    else
        snprintf(buf, size, "%s[%zu]", array, index);
    return buf;
}

static int check_resource(const char *origin, const char *what, const char *field, double value,
                          struct wn_error *err)
{
    if (isfinite(value) && value >= 0)
        return 0;
    return wn_error_set(err, WN_EPLUGIN,
                        "%s: %s: resources.%s is %g, expected a finite number >= 0", origin, what,
                        field, value);
}

static int check_payloads(const char *origin, const char *what, const char *field, uint32_t bits,
                          struct wn_error *err)
{
    if (bits != 0 && (bits & ~(uint32_t)WN_PAYLOADS_ANY) == 0)
        return 0;
    return wn_error_set(err, WN_EPLUGIN,
                        "%s: %s: %s is 0x%x, expected a nonzero set within 0x%x "
                        "(WN_PAYLOAD_BIT of EMPTY, FILES, TABLE, BLOB)",
                        origin, what, field, bits, WN_PAYLOADS_ANY);
}

static int validate_stage(const struct wn_stage_desc *s, size_t index, const char *origin,
                          struct wn_error *err)
{
    char what[96];
    int kind, rc;

    /* The name is read for the message only when the layout is ours (same
     * major) and the descriptor is long enough to hold it. */
    describe(what, sizeof(what), "stage", "stages", index,
             s->abi_major == WN_ABI_MAJOR && WN_COVERS(s->struct_size, struct wn_stage_desc, name)
                 ? s->name
                 : NULL);
    rc = check_header(origin, what, "wn_stage_desc", s->abi_major, s->abi_minor, s->struct_size,
                      WN_STAGE_DESC_V1_SIZE, err);
    if (rc < 0)
        return rc;
    describe(what, sizeof(what), "stage", "stages", index, NULL);
    rc = check_name(origin, what, s->name, err);
    if (rc < 0)
        return rc;
    describe(what, sizeof(what), "stage", "stages", index, s->name);

    if (s->ops == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: ops is NULL, expected a struct wn_stage_ops with at least "
                            "process_batch",
                            origin, what);
    if (s->ops->version < 1)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: ops version %u, expected at least 1 (WN_STAGE_OPS_VERSION)",
                            origin, what, s->ops->version);
    if (s->ops->process_batch == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: process_batch is NULL, expected a function (the one "
                            "mandatory hook)",
                            origin, what);
    kind = (int)s->kind;
    if (kind != WN_STAGE_PLAIN && kind != WN_STAGE_COMMS && kind != WN_STAGE_SHUFFLE)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: kind %d, expected 0 (PLAIN), 1 (COMMS) or 2 (SHUFFLE)", origin,
                            what, kind);
    if (kind == WN_STAGE_SHUFFLE && s->shuffle == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: kind SHUFFLE but shuffle is NULL, expected its shuffle hooks",
                            origin, what);
    rc = check_payloads(origin, what, "input_payloads", s->input_payloads, err);
    if (rc == 0)
        rc = check_payloads(origin, what, "output_payloads", s->output_payloads, err);
    if (rc == 0)
        rc = check_resource(origin, what, "cpus", s->resources.cpus, err);
    if (rc == 0)
        rc = check_resource(origin, what, "gpus", s->resources.gpus, err);
    if (rc == 0)
        rc = check_resource(origin, what, "gpu_memory_gb", s->resources.gpu_memory_gb, err);
    if (rc < 0)
        return rc;
    rc = wn_params_check_spec(s->params, what, err);
    if (rc < 0)
        return wn_error_prefix(err, "%s", origin);
    return 0;
}

static const char *backend_kind_name(int kind)
{
    switch (kind) {
    case WN_BACKEND_EXECUTOR: return "executor";
    case WN_BACKEND_COMMS: return "comms";
    case WN_BACKEND_SHUFFLE: return "shuffle";
    default: return "unknown";
    }
}

static int validate_backend(const struct wn_backend_desc *b, size_t index, const char *origin,
                            struct wn_error *err)
{
    char what[96];
    int kind, rc;

    describe(what, sizeof(what), "backend", "backends", index,
             b->abi_major == WN_ABI_MAJOR && WN_COVERS(b->struct_size, struct wn_backend_desc, name)
                 ? b->name
                 : NULL);
    rc = check_header(origin, what, "wn_backend_desc", b->abi_major, b->abi_minor, b->struct_size,
                      WN_BACKEND_DESC_V1_SIZE, err);
    if (rc < 0)
        return rc;
    describe(what, sizeof(what), "backend", "backends", index, NULL);
    rc = check_name(origin, what, b->name, err);
    if (rc < 0)
        return rc;
    describe(what, sizeof(what), "backend", "backends", index, b->name);

    kind = (int)b->kind;
    if (kind != WN_BACKEND_EXECUTOR && kind != WN_BACKEND_COMMS && kind != WN_BACKEND_SHUFFLE)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: kind %d, expected 1 (EXECUTOR), 2 (COMMS) or 3 (SHUFFLE)",
                            origin, what, kind);
    if (b->ops == NULL)
        return wn_error_set(err, WN_EPLUGIN, "%s: %s: ops is NULL, expected the %s method table",
                            origin, what, backend_kind_name(kind));
    if (kind == WN_BACKEND_EXECUTOR) {
        const struct wn_executor_ops *ops = b->ops;
        if (ops->version < 1)
            return wn_error_set(err, WN_EPLUGIN,
                                "%s: %s: executor ops version %u, expected at least 1 "
                                "(WN_EXECUTOR_OPS_VERSION)",
                                origin, what, ops->version);
        if (ops->run == NULL)
            return wn_error_set(err, WN_EPLUGIN,
                                "%s: %s: executor run is NULL, expected a function", origin, what);
    }
    rc = wn_params_check_spec(b->params, what, err);
    if (rc < 0)
        return wn_error_prefix(err, "%s", origin);
    return 0;
}

int wn_registry_validate_plugin(const struct wn_plugin *plugin, const char *origin,
                                struct wn_error *err)
{
    char what[96], shown[64];
    const char *name = NULL;
    size_t n_stages = 0, n_backends = 0;
    int rc;

    if (origin == NULL)
        origin = "<unknown plugin>";
    if (plugin == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: the entry point returned NULL, expected a plugin descriptor",
                            origin);
    /* The name may be read for messages only once the layout is known to be
     * ours (same major) and the descriptor is long enough to hold it. */
    if (plugin->abi_major == WN_ABI_MAJOR &&
        WN_COVERS(plugin->struct_size, struct wn_plugin, name) && plugin->name != NULL)
        name = printable(plugin->name, shown, sizeof(shown));
    if (name != NULL)
        snprintf(what, sizeof(what), "plugin '%s'", name);
    else
        snprintf(what, sizeof(what), "plugin");
    rc = check_header(origin, what, "wn_plugin", plugin->abi_major, plugin->abi_minor,
                      plugin->struct_size, WN_PLUGIN_V1_SIZE, err);
    if (rc < 0)
        return rc;
    rc = check_name(origin, "plugin", plugin->name, err);
    if (rc < 0)
        return rc;
    if (plugin->version == NULL || plugin->version[0] == '\0')
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s: version is %s, expected a version string such as \"1.0\"",
                            origin, what, plugin->version == NULL ? "NULL" : "empty");

    for (size_t i = 0; plugin->stages != NULL && plugin->stages[i] != NULL; i++, n_stages++) {
        const struct wn_stage_desc *s = plugin->stages[i];
        rc = validate_stage(s, i, origin, err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(plugin->stages[j]->name, s->name) == 0)
                return wn_error_set(err, WN_EPLUGIN,
                                    "%s: stage '%s' is declared twice (stages[%zu] and "
                                    "stages[%zu]), expected unique stage names in one plugin",
                                    origin, s->name, j, i);
    }
    for (size_t i = 0; plugin->backends != NULL && plugin->backends[i] != NULL; i++, n_backends++) {
        const struct wn_backend_desc *b = plugin->backends[i];
        rc = validate_backend(b, i, origin, err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (plugin->backends[j]->kind == b->kind &&
                strcmp(plugin->backends[j]->name, b->name) == 0)
                return wn_error_set(err, WN_EPLUGIN,
                                    "%s: %s backend '%s' is declared twice (backends[%zu] and "
                                    "backends[%zu]), expected unique names per kind in one "
                                    "plugin",
                                    origin, backend_kind_name((int)b->kind), b->name, j, i);
    }
    if (n_stages == 0 && n_backends == 0)
        return wn_error_set(err, WN_EPLUGIN,
                            "%s: %s declares no stages and no backends, expected at least one",
                            origin, what);
    return 0;
}

/* ---- registration ---------------------------------------------------------- */

static const struct stage_slot *find_stage_slot(const struct wn_registry *registry,
                                                const char *name)
{
    for (size_t i = 0; i < registry->n_stages; i++)
        if (strcmp(registry->stages[i].desc->name, name) == 0)
            return &registry->stages[i];
    return NULL;
}

static const struct backend_slot *find_backend_slot(const struct wn_registry *registry,
                                                    enum wn_backend_kind kind, const char *name)
{
    for (size_t i = 0; i < registry->n_backends; i++)
        if (registry->backends[i].desc->kind == kind &&
            strcmp(registry->backends[i].desc->name, name) == 0)
            return &registry->backends[i];
    return NULL;
}

/*
 * Adds a validated plugin: its names that are not taken yet become
 * answerable; the others are recorded as shadowed.  Takes the handle (closed
 * by wn_registry_free), also on failure.
 */
static int register_plugin(struct wn_registry *registry, const char *path, lt_dlhandle handle,
                           const struct wn_plugin *plugin, struct wn_error *err)
{
    struct registry_entry *entry = NULL;
    const struct wn_plugin *p = plugin;
    int rc = WN_ENOMEM;

    if (grow(&registry->plugins, &registry->cap_plugins, registry->n_plugins,
             sizeof(*registry->plugins)) < 0)
        goto out_close;
    entry = calloc(1, sizeof(*entry));
    if (entry == NULL)
        goto out_close;
    entry->pub.path = strdup(path);
    if (entry->pub.path == NULL)
        goto out_free_entry;
    entry->pub.plugin = plugin;
    entry->handle = handle;
    registry->plugins[registry->n_plugins++] = entry;

    for (size_t i = 0; p->stages != NULL && p->stages[i] != NULL; i++) {
        const struct wn_stage_desc *s = p->stages[i];
        const struct stage_slot *first = find_stage_slot(registry, s->name);

        if (first != NULL) {
            if (record_failure(registry, path, WN_EPLUGIN, first->owner->pub.path,
                               "%s: stage '%s' is shadowed by %s (the first plugin found "
                               "provides it)",
                               path, s->name, first->owner->pub.path) < 0)
                goto out_oom;
            continue;
        }
        if (grow(&registry->stages, &registry->cap_stages, registry->n_stages,
                 sizeof(*registry->stages)) < 0)
            goto out_oom;
        registry->stages[registry->n_stages].desc = s;
        registry->stages[registry->n_stages].owner = entry;
        registry->n_stages++;
    }
    for (size_t i = 0; p->backends != NULL && p->backends[i] != NULL; i++) {
        const struct wn_backend_desc *b = p->backends[i];
        const struct backend_slot *first = find_backend_slot(registry, b->kind, b->name);

        if (first != NULL) {
            if (record_failure(registry, path, WN_EPLUGIN, first->owner->pub.path,
                               "%s: %s backend '%s' is shadowed by %s (the first plugin found "
                               "provides it)",
                               path, backend_kind_name((int)b->kind), b->name,
                               first->owner->pub.path) < 0)
                goto out_oom;
            continue;
        }
        if (grow(&registry->backends, &registry->cap_backends, registry->n_backends,
                 sizeof(*registry->backends)) < 0)
            goto out_oom;
        registry->backends[registry->n_backends].desc = b;
        registry->backends[registry->n_backends].owner = entry;
        registry->n_backends++;
    }
    return 0;

    /* Before the entry is in the list the handle is closed here; after, the
     * registry owns it and wn_registry_free closes it. */
out_free_entry:
    free(entry);
out_close:
    if (handle != NULL) {
        pthread_mutex_lock(&wn_ltdl_mutex);
        lt_dlclose(handle);
        pthread_mutex_unlock(&wn_ltdl_mutex);
    }
out_oom:
    return wn_error_set(err, rc, "%s: out of memory while registering the plugin", path);
}

int wn_registry_add_static(struct wn_registry *registry, const struct wn_plugin *plugin,
                           const char *origin, struct wn_error *err)
{
    char builtin[128];
    int rc;

    if (origin == NULL) {
        char shown[64];
        snprintf(builtin, sizeof(builtin), "<builtin:%s>",
                 plugin != NULL && plugin->abi_major == WN_ABI_MAJOR &&
                         WN_COVERS(plugin->struct_size, struct wn_plugin, name)
                     ? printable(plugin->name, shown, sizeof(shown))
                     : "?");
        origin = builtin;
    }
    rc = wn_registry_validate_plugin(plugin, origin, err);
    if (rc < 0)
        return rc;
    return register_plugin(registry, origin, NULL, plugin, err);
}

/* ---- loading files --------------------------------------------------------- */

/* Nonzero when the file starts with the ELF magic number. */
static int looks_like_elf(const char *path)
{
    unsigned char magic[4];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 1; /* cannot tell: let dlerror's words stand alone */
    n = read(fd, magic, sizeof(magic));
    close(fd);
    return n == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

/* Converts the void * that lt_dlsym returns into the entry point's type. */
typedef const struct wn_plugin *(*wn_plugin_entry_fn)(void);

static wn_plugin_entry_fn entry_from_symbol(void *symbol)
{
    wn_plugin_entry_fn entry;

    memcpy(&entry, &symbol, sizeof(entry));
    return entry;
}

/*
 * Opens one shared object and, if it is a valid winnow plugin, registers it;
 * otherwise records why not.  Returns 0, or a negative code only when the
 * registry itself cannot go on (out of memory).
 */
static int load_file(struct wn_registry *registry, const char *path, struct wn_error *err)
{
    char *real = realpath(path, NULL);
    const struct wn_plugin *plugin;
    char failure[WN_ERROR_MESSAGE_MAX];
    lt_dladvise advise;
    lt_dlhandle handle = NULL;
    void *probe, *symbol = NULL;
    int other_major = 0, rc = 0;

    if (real == NULL)
        return record_failure(registry, path, WN_EIO, NULL, "%s: cannot resolve the path: %s", path,
                              strerror(errno));
    for (size_t i = 0; i < registry->n_seen; i++)
        if (strcmp(registry->seen[i], real) == 0) {
            free(real);
            return 0;
        }
    if (grow(&registry->seen, &registry->cap_seen, registry->n_seen, sizeof(char *)) < 0) {
        free(real);
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    }
    registry->seen[registry->n_seen++] = real;

    failure[0] = '\0';
    pthread_mutex_lock(&wn_ltdl_mutex);
    /*
     * libltdl binds lazily and says "file not found" for almost any failure:
     * probe with RTLD_NOW first, so that an undefined symbol or a missing
     * dependency is reported in dlerror's words now, not as a crash at the
     * first call.  The probe stays open until lt_dlopen is done, so that
     * lt_dlopen finds the object already fully bound.
     */
    dlerror();
    /*
     * Open by the resolved path: a name without a slash would make dlopen
     * search the library path instead of the file the user named.
     * RTLD_NODELETE: winnow never unmaps a plugin once loaded.  Libraries
     * plugins bring along (NCCL, UCX, CUDA) leave threads running past their
     * own cleanup — NCCL's bootstrap root thread, for one — and unmapping
     * their code under those threads crashes the process at exit.
     */
    probe = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (probe == NULL) {
        const char *why = dlerror();
        size_t real_len = strlen(real);

        if (why == NULL)
            why = "dlopen gave no reason";
        /* dlerror usually starts with "<path>: ": the message names it once. */
        if (strncmp(why, real, real_len) == 0 && strncmp(why + real_len, ": ", 2) == 0)
            why += real_len + 2;
        snprintf(failure, sizeof(failure), "%s: %s: %s", path,
                 looks_like_elf(path) ? "cannot be loaded" : "not an ELF shared object", why);
        rc = WN_EPLUGIN;
        goto out_unlock;
    }
    if (lt_dladvise_init(&advise) != 0) {
        snprintf(failure, sizeof(failure), "%s: libltdl cannot set load options: %s", path,
                 lt_dlerror());
        rc = WN_EPLUGIN;
        goto out_close_probe;
    }
    lt_dladvise_local(&advise);
    handle = lt_dlopenadvise(real, advise);
    lt_dladvise_destroy(&advise);
    if (handle == NULL) {
        const char *why = lt_dlerror();
        snprintf(failure, sizeof(failure), "%s: libltdl cannot open it: %s", path,
                 why != NULL ? why : "no reason given");
        rc = WN_EPLUGIN;
        goto out_close_probe;
    }
    symbol = lt_dlsym(handle, WN_PLUGIN_ENTRY_SYMBOL);
    if (symbol == NULL) {
        for (int major = WN_ABI_MAJOR + 1; major <= WN_ENTRY_MAJOR_MAX && !other_major; major++) {
            char name[32];
            snprintf(name, sizeof(name), "winnow_plugin_v%d", major);
            if (lt_dlsym(handle, name) != NULL)
                other_major = major;
        }
        if (other_major)
            snprintf(failure, sizeof(failure),
                     "%s: no entry symbol %s: not a winnow plugin of this ABI (it exports "
                     "winnow_plugin_v%d: built for winnow ABI major %d, this winnow loads ABI "
                     "%d)",
                     path, WN_PLUGIN_ENTRY_SYMBOL, other_major, other_major, WN_ABI_MAJOR);
        else
            snprintf(failure, sizeof(failure), "%s: no entry symbol %s: not a winnow plugin", path,
                     WN_PLUGIN_ENTRY_SYMBOL);
        rc = other_major ? WN_EABI : WN_EPLUGIN;
        lt_dlclose(handle);
        handle = NULL;
    }
out_close_probe:
    dlclose(probe);
out_unlock:
    pthread_mutex_unlock(&wn_ltdl_mutex);
    if (handle == NULL)
        return record_failure(registry, path, rc, NULL, "%s", failure);

    /* The entry point is the first plugin code called; nothing else of the
     * plugin runs before its descriptor is validated. */
    plugin = entry_from_symbol(symbol)();
    {
        struct wn_error why = WN_ERROR_INIT;
        rc = wn_registry_validate_plugin(plugin, path, &why);
        if (rc < 0) {
            /* The message is a copy: nothing of the closed plugin is kept. */
            pthread_mutex_lock(&wn_ltdl_mutex);
            lt_dlclose(handle);
            pthread_mutex_unlock(&wn_ltdl_mutex);
            return record_failure(registry, path, why.code, NULL, "%s", why.message);
        }
    }
    return register_plugin(registry, path, handle, plugin, err);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Nonzero for a name a directory scan takes: not a dot file, ends in ".so". */
static int is_plugin_name(const char *name)
{
    size_t n = strlen(name);

    return name[0] != '.' && n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/*
 * Loads the regular *.so files of dir in strcmp order.  Returns 0, a
 * negative code when the registry cannot go on, or, when the directory
 * cannot be opened, WN_EIO with err set.
 */
static int scan_directory(struct wn_registry *registry, const char *dir, struct wn_error *err)
{
    char **names = NULL;
    size_t n_names = 0, cap_names = 0;
    struct dirent *ent;
    DIR *d = opendir(dir);
    int rc = 0;

    if (d == NULL)
        return wn_error_set(err, WN_EIO, "plugin directory %s: %s", dir, strerror(errno));
    while ((ent = readdir(d)) != NULL) {
        char *copy;
        if (!is_plugin_name(ent->d_name))
            continue;
        copy = strdup(ent->d_name);
        if (copy == NULL || grow(&names, &cap_names, n_names, sizeof(char *)) < 0) {
            free(copy);
            rc = wn_error_set(err, WN_ENOMEM, "out of memory");
            goto out_free_names;
        }
        names[n_names++] = copy;
    }
    if (n_names > 1)
        qsort(names, n_names, sizeof(char *), compare_names);

    for (size_t i = 0; i < n_names && rc == 0; i++) {
        struct stat st;
        char *path;
        size_t dir_len = strlen(dir);

        if (asprintf(&path, "%s%s%s", dir, dir_len > 0 && dir[dir_len - 1] == '/' ? "" : "/",
                     names[i]) < 0) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory");
            break;
        }
        if (stat(path, &st) != 0)
            rc = record_failure(registry, path, WN_EIO, NULL, "%s: %s", path, strerror(errno));
        else if (S_ISREG(st.st_mode))
            rc = load_file(registry, path, err);
        free(path);
    }

out_free_names:
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/*
 * Loads one search path: a directory is scanned, a file loaded.  explicit
 * paths (wn_registry_add_path) that are neither are an error; default ones
 * that are missing are skipped, and ones that cannot be read are recorded.
 */
static int load_path(struct wn_registry *registry, const char *path, int explicit,
                     struct wn_error *err)
{
    struct stat st;
    int rc;

    if (stat(path, &st) != 0) {
        if (explicit)
            return wn_error_set(err, WN_ENOTFOUND, "plugin path %s: %s", path, strerror(errno));
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return record_failure(registry, path, WN_EIO, NULL, "plugin directory %s: %s", path,
                              strerror(errno));
    }
    if (S_ISREG(st.st_mode))
        return load_file(registry, path, err);
    if (!S_ISDIR(st.st_mode)) {
        if (explicit)
            return wn_error_set(err, WN_EINVAL, "plugin path %s is neither a file nor a directory",
                                path);
        return 0;
    }
    rc = scan_directory(registry, path, err);
    if (rc == WN_EIO) {
        /* The directory exists but cannot be read: a failure to show, not a
         * reason to stop loading the others. */
        if (explicit)
            return rc;
        rc = record_failure(registry, path, WN_EIO, NULL, "%s", err->message);
        wn_error_clear(err);
    }
    return rc;
}

/* Loads the directories of WINNOW_PLUGIN_PATH, in order, empty entries ignored. */
static int load_env_path(struct wn_registry *registry, struct wn_error *err)
{
    const char *env = getenv("WINNOW_PLUGIN_PATH");
    char *list, *entry, *save = NULL;
    int rc = 0;

    if (env == NULL || env[0] == '\0')
        return 0;
    list = strdup(env);
    if (list == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (entry = strtok_r(list, ":", &save); entry != NULL && rc == 0;
         entry = strtok_r(NULL, ":", &save))
        rc = load_path(registry, entry, 0, err);
    free(list);
    return rc;
}

int wn_registry_load(struct wn_registry *registry, struct wn_error *err)
{
    struct wn_error scratch = WN_ERROR_INIT;
    const char *no_default;
    int rc;

    if (err == NULL)
        err = &scratch;
    wn_error_clear(err);
    if (registry->loaded)
        return wn_error_set(err, WN_EINVAL,
                            "wn_registry_load: this registry has already loaded its plugins");
    /* Every path given explicitly must exist before anything is loaded. */
    for (size_t i = 0; i < registry->n_paths; i++) {
        struct stat st;
        if (stat(registry->paths[i], &st) != 0)
            return wn_error_set(err, WN_ENOTFOUND,
                                "plugin path %s: %s (given as a path to load plugins from)",
                                registry->paths[i], strerror(errno));
    }
    registry->loaded = 1;

    pthread_mutex_lock(&wn_ltdl_mutex);
    rc = lt_dlinit();
    if (rc != 0) {
        const char *why = lt_dlerror();
        pthread_mutex_unlock(&wn_ltdl_mutex);
        return wn_error_set(err, WN_EPLUGIN, "libltdl cannot initialise: %s",
                            why != NULL ? why : "no reason given");
    }
    registry->ltdl_initialised = 1;
    pthread_mutex_unlock(&wn_ltdl_mutex);

    for (size_t i = 0; i < registry->n_paths && rc == 0; i++)
        rc = load_path(registry, registry->paths[i], 1, err);
    if (rc == 0 && registry->default_paths) {
        rc = load_env_path(registry, err);
        no_default = getenv("WINNOW_NO_DEFAULT_PLUGIN_DIR");
        if (rc == 0 && (no_default == NULL || no_default[0] == '\0'))
            rc = load_path(registry, WN_PLUGIN_DIR, 0, err);
    }
    /* record_failure reports running out of memory by its code alone. */
    if (rc < 0 && err->code == WN_OK)
        wn_error_set(err, rc, "out of memory while loading plugins");
    return rc;
}

/* ---- lookups --------------------------------------------------------------- */

const struct wn_registry_plugin *wn_registry_stage_owner(const struct wn_registry *registry,
                                                         const char *name)
{
    const struct stage_slot *slot = find_stage_slot(registry, name);

    return slot != NULL ? &slot->owner->pub : NULL;
}

const struct wn_stage_desc *wn_registry_find_stage(const struct wn_registry *registry,
                                                   const char *name)
{
    const struct stage_slot *slot = find_stage_slot(registry, name);

    return slot != NULL ? slot->desc : NULL;
}

const struct wn_backend_desc *wn_registry_find_backend(const struct wn_registry *registry,
                                                       enum wn_backend_kind kind, const char *name)
{
    const struct backend_slot *slot = find_backend_slot(registry, kind, name);

    return slot != NULL ? slot->desc : NULL;
}

size_t wn_registry_plugin_count(const struct wn_registry *registry)
{
    return registry->n_plugins;
}

const struct wn_registry_plugin *wn_registry_plugin_at(const struct wn_registry *registry, size_t i)
{
    return i < registry->n_plugins ? &registry->plugins[i]->pub : NULL;
}

size_t wn_registry_failure_count(const struct wn_registry *registry)
{
    return registry->n_failures;
}

const struct wn_registry_failure *wn_registry_failure_at(const struct wn_registry *registry,
                                                         size_t i)
{
    return i < registry->n_failures ? &registry->failures[i] : NULL;
}
