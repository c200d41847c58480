#include "annals/version.h"

namespace annals {

std::string_view Version() { return ANNALS_VERSION_STRING; }

}  // namespace annals
