/*
 * winnow — the plugin entry point and descriptor.
 *
 * A plugin is a shared object that exports exactly one symbol:
 *
 *     const struct wn_plugin *winnow_plugin_v1(void);
 *
 * which returns a static descriptor listing its stages and backends.  The
 * host validates the descriptor (ABI, struct sizes, mandatory fields, unique
 * names) before it calls any other plugin code.  WN_PLUGIN_DEFINE writes the
 * entry point:
 *
 *     static const struct wn_stage_desc *const stages[] = { &my_stage, NULL };
 *     static const struct wn_plugin plugin = {
 *         WN_PLUGIN_HEADER, "myplugin", "1.0", "MIT", "What it does",
 *         stages, NULL, { 0 } };
 *     WN_PLUGIN_DEFINE(&plugin)
 */
#ifndef WINNOW_PLUGIN_H
#define WINNOW_PLUGIN_H

#include <stdint.h>

#include <winnow/backend.h>
#include <winnow/stage.h>
#include <winnow/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define WN_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define WN_PLUGIN_EXPORT
#endif

struct wn_plugin {
    uint32_t abi_major;   /* WN_ABI_MAJOR */
    uint32_t abi_minor;   /* WN_ABI_MINOR */
    uint32_t struct_size; /* sizeof(struct wn_plugin) */
    const char *name;     /* [a-z0-9_]+ */
    const char *version;
    const char *license;
    const char *summary;
    const struct wn_stage_desc *const *stages;     /* NULL-terminated, may be NULL */
    const struct wn_backend_desc *const *backends; /* NULL-terminated, may be NULL */
    void *reserved[8];
};

/* The three leading fields of every descriptor, for initialisers. */
#define WN_PLUGIN_HEADER WN_ABI_MAJOR, WN_ABI_MINOR, (uint32_t)sizeof(struct wn_plugin)
#define WN_STAGE_HEADER WN_ABI_MAJOR, WN_ABI_MINOR, (uint32_t)sizeof(struct wn_stage_desc)
#define WN_BACKEND_HEADER WN_ABI_MAJOR, WN_ABI_MINOR, (uint32_t)sizeof(struct wn_backend_desc)

/* The entry symbol's name, for hosts that look it up. */
#define WN_PLUGIN_ENTRY_SYMBOL "winnow_plugin_v1"

WN_PLUGIN_EXPORT const struct wn_plugin *winnow_plugin_v1(void);

/* Defines the entry point returning the given descriptor. */
#define WN_PLUGIN_DEFINE(descriptor)                                                               \
    WN_PLUGIN_EXPORT const struct wn_plugin *winnow_plugin_v1(void)                                \
    {                                                                                              \
        return (descriptor);                                                                       \
    }

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_PLUGIN_H */
