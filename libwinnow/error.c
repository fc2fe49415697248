/* wn_error_*: the error record shared by the host and plugins. */
#include "build_config.h"

#include <stdio.h>
#include <string.h>

#include <winnow/error.h>

int wn_error_setv(struct wn_error *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    return code;
}

int wn_error_set(struct wn_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    wn_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int wn_error_prefix(struct wn_error *err, const char *fmt, ...)
{
    char prefix[WN_ERROR_MESSAGE_MAX];
    char old[WN_ERROR_MESSAGE_MAX];
    va_list ap;

    if (err == NULL)
        return WN_EINTERNAL;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    /* prefix + ": " + old, cut at the record's size */
    size_t n = strnlen(prefix, sizeof(err->message) - 1);
    memcpy(err->message, prefix, n);
    if (n + 2 < sizeof(err->message)) {
        memcpy(err->message + n, ": ", 2);
        n += 2;
        size_t rest = strnlen(old, sizeof(old));
        if (rest > sizeof(err->message) - 1 - n)
            rest = sizeof(err->message) - 1 - n;
        memcpy(err->message + n, old, rest);
        n += rest;
    }
    err->message[n] = '\0';
    return err->code;
}

void wn_error_clear(struct wn_error *err)
{
    if (err == NULL)
        return;
    err->code = WN_OK;
    err->message[0] = '\0';
}

const char *wn_strerror(int code)
{
    switch (code) {
    case WN_OK: return "success";
    case WN_EINVAL: return "invalid argument";
    case WN_ENOMEM: return "out of memory";
    case WN_EIO: return "input/output error";
    case WN_ENOTFOUND: return "not found";
    case WN_EABI: return "incompatible plugin ABI";
    case WN_EPLUGIN: return "plugin error";
    case WN_ECONFIG: return "invalid configuration";
    case WN_ECANCELED: return "canceled";
    case WN_ETIMEDOUT: return "timed out";
    case WN_EDATA: return "malformed data";
    case WN_EUNSUPPORTED: return "not supported";
    case WN_ERESOURCE: return "insufficient resources";
    case WN_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}
