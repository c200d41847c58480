// annals/utf8.h: the strict UTF-8 check the store applies to stream names,
// event types, ids and metadata keys (docs/FORMAT.md, "What each field may
// hold"), for clients that must make the same decision, e.g. whether a field
// can be written as a JSON string or needs base64.
#ifndef ANNALS_UTF8_H_
#define ANNALS_UTF8_H_

#include <string_view>
#include "annals/export.h"

namespace annals {

// True if `text` is well-formed UTF-8: no overlong forms, no UTF-16
// surrogates (U+D800..U+DFFF), nothing past U+10FFFF, no truncated or stray
// continuation bytes. The empty string is valid; NUL bytes are (U+0000).
ANNALS_EXPORT bool IsValidUtf8(std::string_view text);

}  // namespace annals

#endif  // ANNALS_UTF8_H_
