// A plugin built against another plugin API version: the tool must refuse it
// (tool_history_test.cc), never call into it.
extern "C" __attribute__((visibility("default"))) int annals_tool_plugin(int host_api_version,
                                                                         void* registry) {
  (void)host_api_version;
  (void)registry;
  return 999;
}
