# WN_CHECK_NCCL: --with-nccl[=PREFIX]; needs CUDA; probes the CUDA prefix when not given.
# Sets have_nccl, nccl_why, NCCL_CFLAGS, NCCL_LIBS, HAVE_NCCL.
AC_DEFUN([WN_CHECK_NCCL], [
  AC_REQUIRE([WN_CHECK_CUDA])
  AC_ARG_WITH([nccl],
    [AS_HELP_STRING([--with-nccl@<:@=PREFIX@:>@], [build the nccl backend @<:@default=auto@:>@])],
    [], [with_nccl=auto])
  have_nccl=no
  nccl_why="disabled with --without-nccl"
  AS_CASE([$with_nccl],
    [no], [],
    [yes|auto], [nccl_home=$CUDA_HOME],
    [nccl_home=$with_nccl])
  AS_IF([test "x$with_nccl" != xno], [
    AS_IF([test "x$have_cuda" != xyes], [nccl_why="needs CUDA ($cuda_why)"], [
      wn_save_CPPFLAGS=$CPPFLAGS; wn_save_LIBS=$LIBS
      CPPFLAGS="$CPPFLAGS -I$nccl_home/include $CUDA_CFLAGS"
      LIBS="-L$nccl_home/lib64 -L$nccl_home/lib $CUDA_LIBS $LIBS"
      AC_CHECK_HEADER([nccl.h],
        [AC_CHECK_LIB([nccl], [ncclCommInitRank],
          [have_nccl=yes
           NCCL_CFLAGS="-I$nccl_home/include $CUDA_CFLAGS"
           NCCL_LIBS="-L$nccl_home/lib64 -L$nccl_home/lib -Wl,-rpath,$nccl_home/lib64 -Wl,-rpath,$nccl_home/lib -lnccl $CUDA_LIBS"],
          [nccl_why="libnccl not found under $nccl_home"])],
        [nccl_why="nccl.h not found under $nccl_home/include"])
      CPPFLAGS=$wn_save_CPPFLAGS; LIBS=$wn_save_LIBS ])])
  AS_IF([test "x$with_nccl" != xno && test "x$with_nccl" != xauto && test "x$have_nccl" = xno],
        [AC_MSG_ERROR([--with-nccl given but $nccl_why])])
  AS_IF([test "x$have_nccl" = xyes], [AC_DEFINE([HAVE_NCCL], [1], [NCCL is available])])
  AM_CONDITIONAL([HAVE_NCCL], [test "x$have_nccl" = xyes])
  AC_SUBST([NCCL_CFLAGS])
  AC_SUBST([NCCL_LIBS])
])
