// Tells when the mailbox file may have changed, from a thread of its own, so that a waiting
// daemon sleeps instead of polling the change log every 25 ms (issue #20: the idle daemon's
// CPU). inotify on the file's folder (the file, its -wal and -journal) on Linux
// (file_watch_linux.cpp); elsewhere start() answers false and the caller keeps polling
// (file_watch_none.cpp).
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace crmsync::store_mock {

class FileWatch {
 public:
  FileWatch();
  ~FileWatch();  // stops the thread: on_change is not called after it
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  // Calls on_change (on the watch's thread) after each write to the SQLite file at `path`
  // by any process. False when this platform, or this file's folder, cannot be watched.
  // Once only.
  bool start(const std::string& path, std::function<void()> on_change);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crmsync::store_mock
