// ANNALS_EXPORT marks the public API: the classes and functions an
// application calls. A shared build (ANNALS_BUILD_SHARED=ON) compiles with
// hidden visibility, so only what is marked here is exported from the .so
// files; the internals stay private to the library. A static build ignores
// the difference.
#ifndef ANNALS_EXPORT_H_
#define ANNALS_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#define ANNALS_EXPORT __attribute__((visibility("default")))
#else
#define ANNALS_EXPORT
#endif

#endif  // ANNALS_EXPORT_H_
