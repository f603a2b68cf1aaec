#include "crmsync/model/result.hpp"

namespace crmsync {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kInvalid:
      return "invalid";
    case ErrorKind::kTransient:
      return "transient";
    case ErrorKind::kPermission:
      return "permission";
    case ErrorKind::kCorrupt:
      return "corrupt";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "?";
}

std::string Error::describe() const {
  return std::string(to_string(kind_)) + ": " + message_;
}

}  // namespace crmsync
