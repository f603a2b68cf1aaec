// Strong id types, so that a store entry id can never be passed as a CRM id.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "crmsync/model/result.hpp"

namespace crmsync {

// A CRM record id: a GUID, always held in canonical lower-case 8-4-4-4-12 form.
class CrmId {
 public:
  CrmId() = default;  // the nil GUID; see is_nil()
  // Accepts upper or lower case, with or without braces; anything else is kInvalid.
  static Result<CrmId> parse(std::string_view text);
  // A fresh random (version 4) GUID, chosen by the client before a create (SPEC X1).
  static CrmId generate();

  const std::string& str() const { return value_; }
  bool is_nil() const { return value_.empty() || value_ == kNil; }
  auto operator<=>(const CrmId&) const = default;

 private:
  static constexpr std::string_view kNil = "00000000-0000-0000-0000-000000000000";
  explicit CrmId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

// A store item id: opaque to the engine (hex like MAPI entry ids, or EWS ids), up to 400 chars.
class EntryId {
 public:
  EntryId() = default;
  explicit EntryId(std::string v) : value_(std::move(v)) {}
  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }
  auto operator<=>(const EntryId&) const = default;
  static constexpr std::size_t kMaxLength = 400;

 private:
  std::string value_;
};

// The cache's row id of one store/CRM pair.
class MapId {
 public:
  MapId() = default;
  explicit MapId(std::int64_t v) : value_(v) {}
  std::int64_t value() const { return value_; }
  auto operator<=>(const MapId&) const = default;

 private:
  std::int64_t value_ = 0;
};

}  // namespace crmsync

template <>
struct std::hash<crmsync::CrmId> {
  std::size_t operator()(const crmsync::CrmId& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
template <>
struct std::hash<crmsync::EntryId> {
  std::size_t operator()(const crmsync::EntryId& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
