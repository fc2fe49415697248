/*
 * The plugin registry: finds plugin shared objects, loads them through
 * libltdl, validates their descriptors before calling any other plugin code,
 * and answers "which stage / backend is called X".
 *
 * Discovery order: paths added with wn_registry_add_path() (files or
 * directories, in the order added), then the directories of
 * WINNOW_PLUGIN_PATH (colon-separated), then the compiled-in plugin directory
 * (unless disabled).  When two plugins declare the same stage or backend name,
 * the first found wins and the later one is recorded as shadowed.
 *
 * A registry is built and loaded on one thread; once loaded, lookups may be
 * made from any thread.  Descriptors stay valid until wn_registry_free().
 */
#ifndef WINNOW_LIB_REGISTRY_H
#define WINNOW_LIB_REGISTRY_H

#include <stddef.h>

#include <winnow/plugin.h>

struct wn_registry;

/* One plugin that loaded. */
struct wn_registry_plugin {
    const char *path; /* shared object path, or "<builtin:NAME>" for static ones */
    const struct wn_plugin *plugin;
};

/* One file that failed to load, or one name that was shadowed.  Strings are
 * owned by the registry and live until wn_registry_free(). */
struct wn_registry_failure {
    const char *path;
    const char *message;     /* the real reason (dlerror's words, ABI found/expected, ...);
                              * complete on its own: it names the file too */
    int code;                /* WN_EPLUGIN, WN_EABI, WN_EIO, ... */
    const char *shadowed_by; /* for a shadowed stage or backend: the path of the plugin
                              * that provides the name; NULL for a failed file */
};

struct wn_registry *wn_registry_new(void);

/* Unloads every plugin; all descriptors and strings obtained from it die. NULL is fine. */
void wn_registry_free(struct wn_registry *registry);

/* Adds a plugin file or directory to search first (copied). */
int wn_registry_add_path(struct wn_registry *registry, const char *path);

/* Whether WINNOW_PLUGIN_PATH and the compiled-in directory are searched (default 1).
 * Tests turn this off so that they never load installed plugins.  The compiled-in
 * directory is also skipped when WINNOW_NO_DEFAULT_PLUGIN_DIR is set non-empty. */
void wn_registry_set_default_paths(struct wn_registry *registry, int enabled);

/*
 * Discovers and loads every plugin.  A plugin that fails to load is recorded
 * (wn_registry_failure_at) and skipped; this returns an error only when the
 * loader itself cannot work, or when a path given with wn_registry_add_path()
 * does not exist (WN_ENOTFOUND, nothing loaded).  A directory contributes its
 * regular files named *.so (not dot files), in strcmp order; a file reached
 * twice loads once.  Call it once per registry, on one thread.
 */
int wn_registry_load(struct wn_registry *registry, struct wn_error *err);

/* Adds a plugin that is linked into the process (tests, embedding).  The
 * descriptor is validated as a loaded one would be; origin names it in messages. */
int wn_registry_add_static(struct wn_registry *registry, const struct wn_plugin *plugin,
                           const char *origin, struct wn_error *err);

/* Validates a plugin descriptor without registering it (ABI, struct sizes,
 * mandatory fields, names, param specs).  origin names the file in messages. */
int wn_registry_validate_plugin(const struct wn_plugin *plugin, const char *origin,
                                struct wn_error *err);

/* Lookups: NULL when no such name. */
const struct wn_stage_desc *wn_registry_find_stage(const struct wn_registry *registry,
                                                   const char *name);
const struct wn_backend_desc *wn_registry_find_backend(const struct wn_registry *registry,
                                                       enum wn_backend_kind kind, const char *name);
/* The loaded plugin that provides stage (or backend) name, or NULL. */
const struct wn_registry_plugin *wn_registry_stage_owner(const struct wn_registry *registry,
                                                         const char *name);

size_t wn_registry_plugin_count(const struct wn_registry *registry);
const struct wn_registry_plugin *wn_registry_plugin_at(const struct wn_registry *registry,
                                                       size_t i);
size_t wn_registry_failure_count(const struct wn_registry *registry);
const struct wn_registry_failure *wn_registry_failure_at(const struct wn_registry *registry,
                                                         size_t i);

#endif /* WINNOW_LIB_REGISTRY_H */
