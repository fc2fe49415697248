/* wn_registry_*: plugin discovery, loading and lookup.
 * (In-memory part; loading from files is added on top of it.) */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include "params_internal.h"
#include "registry.h"

struct wn_registry {
    struct wn_registry_plugin *plugins;
    size_t n_plugins, cap_plugins;
    struct wn_registry_failure *failures;
    size_t n_failures, cap_failures;
    char **paths;
    size_t n_paths;
    int default_paths;
};

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
    for (size_t i = 0; i < registry->n_plugins; i++)
        free((char *)registry->plugins[i].path);
    for (size_t i = 0; i < registry->n_failures; i++) {
        free((char *)registry->failures[i].path);
        free((char *)registry->failures[i].message);
    }
    for (size_t i = 0; i < registry->n_paths; i++)
        free(registry->paths[i]);
    free(registry->paths);
    free(registry->plugins);
    free(registry->failures);
    free(registry);
}

int wn_registry_add_path(struct wn_registry *registry, const char *path)
{
    char **paths = realloc(registry->paths, (registry->n_paths + 1) * sizeof(*paths));

    if (paths == NULL)
        return WN_ENOMEM;
    registry->paths = paths;
    paths[registry->n_paths] = strdup(path);
    if (paths[registry->n_paths] == NULL)
        return WN_ENOMEM;
    registry->n_paths++;
    return 0;
}

void wn_registry_set_default_paths(struct wn_registry *registry, int enabled)
{
    registry->default_paths = enabled;
}

int wn_registry_validate_plugin(const struct wn_plugin *plugin, const char *origin,
                                struct wn_error *err)
{
    if (plugin == NULL)
        return wn_error_set(err, WN_EPLUGIN, "%s: the entry point returned NULL", origin);
    if (plugin->abi_major != WN_ABI_MAJOR)
        return wn_error_set(err, WN_EABI, "%s: plugin ABI major %u, expected %u", origin,
                            plugin->abi_major, WN_ABI_MAJOR);
    for (size_t i = 0; plugin->stages != NULL && plugin->stages[i] != NULL; i++) {
        const struct wn_stage_desc *s = plugin->stages[i];
        if (s->name == NULL || s->ops == NULL || s->ops->process_batch == NULL)
            return wn_error_set(err, WN_EPLUGIN, "%s: stage %zu is incomplete", origin, i);
        if (wn_params_check_spec(s->params, s->name, err) < 0)
            return wn_error_prefix(err, "%s", origin);
    }
    return 0;
}

int wn_registry_add_static(struct wn_registry *registry, const struct wn_plugin *plugin,
                           const char *origin, struct wn_error *err)
{
    struct wn_registry_plugin *entry;
    int rc = wn_registry_validate_plugin(plugin, origin, err);

    if (rc < 0)
        return rc;
    if (registry->n_plugins == registry->cap_plugins) {
        size_t cap = registry->cap_plugins ? registry->cap_plugins * 2 : 8;
        entry = realloc(registry->plugins, cap * sizeof(*entry));
        if (entry == NULL)
            return wn_error_set(err, WN_ENOMEM, "out of memory");
        registry->plugins = entry;
        registry->cap_plugins = cap;
    }
    entry = &registry->plugins[registry->n_plugins];
    entry->path = strdup(origin);
    entry->plugin = plugin;
    if (entry->path == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    registry->n_plugins++;
    return 0;
}

int wn_registry_load(struct wn_registry *registry, struct wn_error *err)
{
    (void)registry;
    return wn_error_set(err, WN_EUNSUPPORTED, "loading plugin files is not available yet");
}

const struct wn_registry_plugin *wn_registry_stage_owner(const struct wn_registry *registry,
                                                         const char *name)
{
    for (size_t i = 0; i < registry->n_plugins; i++) {
        const struct wn_plugin *p = registry->plugins[i].plugin;
        for (size_t j = 0; p->stages != NULL && p->stages[j] != NULL; j++)
            if (strcmp(p->stages[j]->name, name) == 0)
                return &registry->plugins[i];
    }
    return NULL;
}

const struct wn_stage_desc *wn_registry_find_stage(const struct wn_registry *registry,
                                                   const char *name)
{
    for (size_t i = 0; i < registry->n_plugins; i++) {
        const struct wn_plugin *p = registry->plugins[i].plugin;
        for (size_t j = 0; p->stages != NULL && p->stages[j] != NULL; j++)
            if (strcmp(p->stages[j]->name, name) == 0)
                return p->stages[j];
    }
    return NULL;
}

const struct wn_backend_desc *wn_registry_find_backend(const struct wn_registry *registry,
                                                       enum wn_backend_kind kind, const char *name)
{
    for (size_t i = 0; i < registry->n_plugins; i++) {
        const struct wn_plugin *p = registry->plugins[i].plugin;
        for (size_t j = 0; p->backends != NULL && p->backends[j] != NULL; j++)
            if (p->backends[j]->kind == kind && strcmp(p->backends[j]->name, name) == 0)
                return p->backends[j];
    }
    return NULL;
}

size_t wn_registry_plugin_count(const struct wn_registry *registry)
{
    return registry->n_plugins;
}

const struct wn_registry_plugin *wn_registry_plugin_at(const struct wn_registry *registry, size_t i)
{
    return i < registry->n_plugins ? &registry->plugins[i] : NULL;
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
