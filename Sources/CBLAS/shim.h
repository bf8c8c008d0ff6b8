// CBLAS on Linux: OpenBLAS's cblas.h (Debian: libopenblas-dev). macOS uses Accelerate instead.
#include <cblas.h>
