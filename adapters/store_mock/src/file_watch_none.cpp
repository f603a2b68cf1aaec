// No file notification on this platform: the caller polls (FileWatch::start answers false).
#include "file_watch.hpp"

namespace crmsync::store_mock {

struct FileWatch::Impl {};

FileWatch::FileWatch() = default;
FileWatch::~FileWatch() = default;

bool FileWatch::start(const std::string&, std::function<void()>) {
  return false;
}

}  // namespace crmsync::store_mock
