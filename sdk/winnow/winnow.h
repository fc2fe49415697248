/* winnow — the umbrella header for plugin authors. */
#ifndef WINNOW_WINNOW_H
#define WINNOW_WINNOW_H

#include <winnow/version.h>
#include <winnow/error.h>
#include <winnow/log.h>
#include <winnow/params.h>
#include <winnow/table.h>
#include <winnow/task.h>
#include <winnow/stage.h>
#include <winnow/backend.h>
#include <winnow/comms.h>
#include <winnow/shuffle.h>
#include <winnow/plugin.h>

#endif /* WINNOW_WINNOW_H */
