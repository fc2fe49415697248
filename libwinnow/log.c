/* wn_log_*: leveled logging through a replaceable handler. */
#include "build_config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_level = WN_LOG_WARN;
static wn_log_handler log_handler;
static void *log_user_data;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static void log_init_from_env(void)
{
    const char *env = getenv("WINNOW_LOG");

    if (env == NULL)
        return;
    for (int i = WN_LOG_ERROR; i <= WN_LOG_DEBUG; i++) {
        if (strcmp(env, level_names[i]) == 0 || (i == WN_LOG_WARN && strcmp(env, "warn") == 0))
            __atomic_store_n(&log_level, i, __ATOMIC_RELAXED);
    }
}

int wn_log_enabled(enum wn_log_level level)
{
    pthread_once(&log_once, log_init_from_env);
    return (int)level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void wn_log_set_level(enum wn_log_level level)
{
    pthread_once(&log_once, log_init_from_env);
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

void wn_log_set_handler(wn_log_handler handler, void *user_data)
{
    pthread_mutex_lock(&log_lock);
    log_handler = handler;
    log_user_data = user_data;
    pthread_mutex_unlock(&log_lock);
}

void wn_log(enum wn_log_level level, const char *domain, const char *fmt, ...)
{
    char message[2048];
    va_list ap;

    if (!wn_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (domain == NULL)
        domain = "winnow";
    pthread_mutex_lock(&log_lock);
    if (log_handler != NULL)
        log_handler(level, domain, message, log_user_data);
    else
        fprintf(stderr, "winnow: %s: %s: %s\n", level_names[level], domain, message);
    pthread_mutex_unlock(&log_lock);
}
