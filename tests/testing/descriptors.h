// Test-only: protobuf schemas written in code (FileDescriptorProtos in text
// format), serialized FileDescriptorSets of them, and payloads encoded with
// them, for schema registry tests without protoc at build time.
#ifndef ANNALS_TESTS_TESTING_DESCRIPTORS_H_
#define ANNALS_TESTS_TESTING_DESCRIPTORS_H_

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace annals::testing {

// Parses a google.protobuf.FileDescriptorProto in text format.
inline google::protobuf::FileDescriptorProto FileProto(const std::string& text) {
  google::protobuf::FileDescriptorProto file;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &file)) << text;
  return file;
}

// A serialized FileDescriptorSet of `files` (dependencies first, as protoc
// --include_imports writes them).
inline std::string DescriptorSet(const std::vector<google::protobuf::FileDescriptorProto>& files) {
  google::protobuf::FileDescriptorSet set;
  for (const auto& file : files) *set.add_file() = file;
  return set.SerializeAsString();
}

// The binary encoding of `message_text` (text format) as the message
// `message` of `files`.
inline std::string EncodeMessage(const std::vector<google::protobuf::FileDescriptorProto>& files,
                                 const std::string& message, const std::string& message_text) {
  google::protobuf::DescriptorPool pool;
  for (const auto& file : files) EXPECT_NE(pool.BuildFile(file), nullptr) << file.name();
  const google::protobuf::Descriptor* descriptor = pool.FindMessageTypeByName(message);
  EXPECT_NE(descriptor, nullptr) << message;
  if (descriptor == nullptr) return "";
  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> value(factory.GetPrototype(descriptor)->New());
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(message_text, value.get()))
      << message_text;
  return value->SerializeAsString();
}

}  // namespace annals::testing

#endif  // ANNALS_TESTS_TESTING_DESCRIPTORS_H_
