// FileWatch with inotify. The folder is watched, not the file: SQLite creates and deletes the
// -wal and -journal files beside it, and a commit in WAL mode writes only the -wal file.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "file_watch.hpp"

namespace crmsync::store_mock {

struct FileWatch::Impl {
  int inotify = -1;
  int wake[2] = {-1, -1};  // a byte here stops the thread
  std::thread thread;

  ~Impl() {
    if (thread.joinable()) {
      char b = 0;
      (void)!write(wake[1], &b, 1);
      thread.join();
    }
    for (int fd : {inotify, wake[0], wake[1]})
      if (fd >= 0) close(fd);
  }

  void run(const std::string& name, const std::function<void()>& on_change) {
    alignas(inotify_event) char buf[16 * 1024];
    for (;;) {
      pollfd fds[2] = {{inotify, POLLIN, 0}, {wake[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;  // EINTR
      if (fds[1].revents != 0) return;
      bool ours = false;
      for (;;) {
        ssize_t n = read(inotify, buf, sizeof buf);
        if (n <= 0) break;  // EAGAIN: all read
        for (char* p = buf; p < buf + n;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(p);
          if (ev->len > 0) {
            std::string_view f(ev->name);
            ours = ours || f == name || f == name + "-wal" || f == name + "-journal";
          }
          if ((ev->mask & IN_Q_OVERFLOW) != 0) ours = true;  // events lost: assume a change
          p += sizeof(inotify_event) + ev->len;
        }
      }
      if (ours) on_change();
    }
  }
};

FileWatch::FileWatch() = default;
FileWatch::~FileWatch() = default;

bool FileWatch::start(const std::string& path, std::function<void()> on_change) {
  if (impl_) return false;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file = fs::absolute(path, ec);
  if (ec || file.filename().empty()) return false;
  auto impl = std::make_unique<Impl>();
  impl->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (impl->inotify < 0 || pipe2(impl->wake, O_CLOEXEC) != 0) return false;
  const std::string dir = file.parent_path().string();
  if (inotify_add_watch(impl->inotify, dir.c_str(),
                        IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_DELETE) < 0)
    return false;
  Impl* raw = impl.get();
  impl->thread = std::thread(
      [raw, name = file.filename().string(), cb = std::move(on_change)] { raw->run(name, cb); });
  impl_ = std::move(impl);
  return true;
}

}  // namespace crmsync::store_mock
