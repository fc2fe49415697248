/* wn_config_*: pipeline configuration files. */
#include "build_config.h"

#include "config.h"
