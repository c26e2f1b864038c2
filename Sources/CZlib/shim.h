#ifndef LIBAST_CZLIB_SHIM_H
#define LIBAST_CZLIB_SHIM_H
#include <zlib.h>
#endif
