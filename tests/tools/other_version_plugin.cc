// A plugin built against another plugin API version: the tool must refuse it
// (tool_history_test.cc), never call into it. The entry point has the real
// signature (a mismatched one is undefined behaviour, which Clang's UBSan
// reports), but answers a version this tool does not speak.
namespace annals::plugin {
class Registry;
}  // namespace annals::plugin

extern "C" __attribute__((visibility("default"))) int annals_tool_plugin(
    int host_api_version, annals::plugin::Registry* registry) {
  (void)host_api_version;
  (void)registry;
  return 999;
}
