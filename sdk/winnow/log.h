/* winnow — logging for the host and for plugins. */
#ifndef WINNOW_LOG_H
#define WINNOW_LOG_H

#include <winnow/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum wn_log_level { WN_LOG_ERROR = 0, WN_LOG_WARN = 1, WN_LOG_INFO = 2, WN_LOG_DEBUG = 3 };

/* Writes one line "<level> <domain>: <message>" through the current handler
 * (stderr by default) when level is enabled.  Any thread; lines never interleave. */
void wn_log(enum wn_log_level level, const char *domain, const char *fmt, ...) WN_PRINTF(3, 4);

/* Nonzero when messages of this level are currently written. */
int wn_log_enabled(enum wn_log_level level);

/* Sets the most verbose level written (default WN_LOG_WARN, or WINNOW_LOG=error|warn|info|debug).
 */
void wn_log_set_level(enum wn_log_level level);

/* Handler that receives every enabled message; NULL restores the stderr handler.
 * The host calls this before starting any thread. */
typedef void (*wn_log_handler)(enum wn_log_level level, const char *domain, const char *message,
                               void *user_data);
void wn_log_set_handler(wn_log_handler handler, void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_LOG_H */
