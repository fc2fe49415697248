# WN_CHECK_UCX: --with-ucx[=PREFIX], auto-detected through pkg-config or PREFIX.
# Sets have_ucx, ucx_why, UCX_CFLAGS, UCX_LIBS, UCX_VERSION, HAVE_UCX (conditional and define).
AC_DEFUN([WN_CHECK_UCX], [
  AC_ARG_WITH([ucx],
    [AS_HELP_STRING([--with-ucx@<:@=PREFIX@:>@], [build the ucx backend @<:@default=auto@:>@])],
    [], [with_ucx=auto])
  have_ucx=no
  ucx_why="disabled with --without-ucx"
  AS_CASE([$with_ucx],
    [no], [],
    [yes|auto], [PKG_CHECK_MODULES([UCX], [ucx >= 1.12],
                   [have_ucx=yes; UCX_VERSION=$($PKG_CONFIG --modversion ucx)],
                   [ucx_why="UCX >= 1.12 not found through pkg-config (Debian: libucx-dev)"])],
    [ wn_save_CPPFLAGS=$CPPFLAGS; wn_save_LIBS=$LIBS
      CPPFLAGS="$CPPFLAGS -I$with_ucx/include"
      LIBS="$LIBS -L$with_ucx/lib"
      AC_CHECK_HEADER([ucp/api/ucp.h],
        [AC_CHECK_LIB([ucp], [ucp_init_version],
          [have_ucx=yes; UCX_CFLAGS="-I$with_ucx/include"; UCX_LIBS="-L$with_ucx/lib -lucp -lucs"
           UCX_VERSION="from $with_ucx"],
          [ucx_why="libucp not usable under $with_ucx"], [-lucs])],
        [ucx_why="ucp/api/ucp.h not found under $with_ucx"])
      CPPFLAGS=$wn_save_CPPFLAGS; LIBS=$wn_save_LIBS ])
  AS_IF([test "x$with_ucx" = xyes && test "x$have_ucx" = xno],
        [AC_MSG_ERROR([--with-ucx given but $ucx_why])])
  AS_IF([test "x$have_ucx" = xyes], [AC_DEFINE([HAVE_UCX], [1], [UCX is available])])
  AM_CONDITIONAL([HAVE_UCX], [test "x$have_ucx" = xyes])
  AC_SUBST([UCX_CFLAGS])
  AC_SUBST([UCX_LIBS])
])
