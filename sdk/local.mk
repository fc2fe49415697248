# The public SDK: headers under $(includedir)/winnow-1/winnow, and winnow-1.pc.
winnowincludedir = $(includedir)/winnow-1/winnow
winnowinclude_HEADERS = \
	sdk/winnow/winnow.h \
	sdk/winnow/plugin.h \
	sdk/winnow/stage.h \
	sdk/winnow/task.h \
	sdk/winnow/table.h \
	sdk/winnow/params.h \
	sdk/winnow/backend.h \
	sdk/winnow/comms.h \
	sdk/winnow/shuffle.h \
	sdk/winnow/error.h \
	sdk/winnow/log.h
nodist_winnowinclude_HEADERS = sdk/winnow/version.h
EXTRA_DIST += sdk/winnow/version.h.in sdk/winnow-1.pc.in
pkgconfig_DATA = sdk/winnow-1.pc
