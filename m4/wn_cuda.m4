# WN_CHECK_CUDA: --with-cuda[=PREFIX]; probes /usr/local/cuda when not given.
# Sets have_cuda, cuda_why, CUDA_HOME, CUDA_CFLAGS, CUDA_LIBS, HAVE_CUDA.
# Nothing in libwinnow links CUDA: only the plugins that need it do.
AC_DEFUN([WN_CHECK_CUDA], [
  AC_ARG_WITH([cuda],
    [AS_HELP_STRING([--with-cuda@<:@=PREFIX@:>@], [CUDA runtime for GPU plugins @<:@default=auto: /usr/local/cuda@:>@])],
    [], [with_cuda=auto])
  have_cuda=no
  cuda_why="disabled with --without-cuda"
  AS_CASE([$with_cuda],
    [no], [],
    [yes|auto], [CUDA_HOME=/usr/local/cuda],
    [CUDA_HOME=$with_cuda])
  AS_IF([test "x$with_cuda" != xno], [
    wn_save_CPPFLAGS=$CPPFLAGS; wn_save_LIBS=$LIBS
    CPPFLAGS="$CPPFLAGS -I$CUDA_HOME/include"
    LIBS="-L$CUDA_HOME/lib64 -L$CUDA_HOME/lib $LIBS"
    AC_CHECK_HEADER([cuda_runtime.h],
      [AC_CHECK_LIB([cudart], [cudaGetDeviceCount],
        [have_cuda=yes
         CUDA_CFLAGS="-I$CUDA_HOME/include"
         CUDA_LIBS="-L$CUDA_HOME/lib64 -L$CUDA_HOME/lib -Wl,-rpath,$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib -lcudart"],
        [cuda_why="libcudart not found under $CUDA_HOME"])],
      [cuda_why="cuda_runtime.h not found under $CUDA_HOME/include"])
    AS_UNSET([ac_cv_header_cuda_runtime_h])
    CPPFLAGS=$wn_save_CPPFLAGS; LIBS=$wn_save_LIBS ])
  AS_IF([test "x$with_cuda" != xno && test "x$with_cuda" != xauto && test "x$have_cuda" = xno],
        [AC_MSG_ERROR([--with-cuda given but $cuda_why])])
  AS_IF([test "x$have_cuda" = xyes], [AC_DEFINE([HAVE_CUDA], [1], [the CUDA runtime is available])])
  AM_CONDITIONAL([HAVE_CUDA], [test "x$have_cuda" = xyes])
  AC_SUBST([CUDA_CFLAGS])
  AC_SUBST([CUDA_LIBS])
])
