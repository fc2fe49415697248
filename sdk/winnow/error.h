/* winnow — status codes and the error record every hook fills on failure. */
#ifndef WINNOW_ERROR_H
#define WINNOW_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WN_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define WN_PRINTF(fmt_index, first_arg)
#endif

/* Every fallible winnow call returns 0 or one of these negative codes. */
enum wn_status {
    WN_OK = 0,
    WN_EINVAL = -1,        /* an argument or a value is invalid */
    WN_ENOMEM = -2,        /* out of memory */
    WN_EIO = -3,           /* a read, write or system call failed */
    WN_ENOTFOUND = -4,     /* a named file, stage, column or plugin does not exist */
    WN_EABI = -5,          /* a plugin was built for another ABI */
    WN_EPLUGIN = -6,       /* a plugin is malformed or misbehaved */
    WN_ECONFIG = -7,       /* a pipeline configuration is invalid */
    WN_ECANCELED = -8,     /* the run was stopped because of another failure */
    WN_ETIMEDOUT = -9,     /* a wait ran past its limit */
    WN_EDATA = -10,        /* input data is malformed (a bad JSONL line, a bad table) */
    WN_EUNSUPPORTED = -11, /* the operation is not available in this build */
    WN_ERESOURCE = -12,    /* not enough CPUs, GPUs or memory for a request */
    WN_EINTERNAL = -13     /* a bug in winnow: please report it */
};

#define WN_ERROR_MESSAGE_MAX 1024

/*
 * The error record.  A hook that fails sets it with wn_error_set() and returns
 * the same negative code.  The caller owns the record; it is plain data (no
 * allocation), so it may live on the stack.
 */
struct wn_error {
    int code;
    char message[WN_ERROR_MESSAGE_MAX];
};

#define WN_ERROR_INIT                                                                              \
    {                                                                                              \
        0,                                                                                         \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Sets code and a printf-style message; returns code, so `return wn_error_set(...)` works.
 * err may be NULL (the message is then dropped). Any thread. */
int wn_error_set(struct wn_error *err, int code, const char *fmt, ...) WN_PRINTF(3, 4);

/* va_list form of wn_error_set(). */
int wn_error_setv(struct wn_error *err, int code, const char *fmt, va_list ap) WN_PRINTF(3, 0);

/* Puts "<context>: " in front of the current message (keeping the code), to add
 * where an error happened as it travels up.  Returns the code. */
int wn_error_prefix(struct wn_error *err, const char *fmt, ...) WN_PRINTF(2, 3);

/* Resets the record to WN_OK and an empty message. */
void wn_error_clear(struct wn_error *err);

/* A static, human-readable name for a status code ("invalid argument", ...). */
const char *wn_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_ERROR_H */
