# The winnow command.
bin_PROGRAMS += cli/winnow
cli_winnow_SOURCES = cli/main.c cli/commands.c cli/commands.h cli/describe.c cli/describe.h
cli_winnow_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
cli_winnow_LDADD = $(top_builddir)/libwinnow/libwinnow.la $(JANSSON_LIBS) $(PTHREAD_LIBS)
