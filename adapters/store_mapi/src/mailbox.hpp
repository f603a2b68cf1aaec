// The profile's default store as the MAPI adapter's parts use it (internal to store_mapi,
// Windows only): the store and its default folders opened, crmsync's named properties
// resolved, messages opened, read into store items through the field codec (fields.hpp) and
// written back, contents tables listed.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fields.hpp"
#include "message_io.hpp"
#include "session.hpp"

namespace crmsync::mapi {

inline constexpr Folder kAllFolders[] = {Folder::kContacts, Folder::kTasks,     Folder::kCalendar,
                                         Folder::kInbox,    Folder::kSentItems, Folder::kDrafts};

class Mailbox {
 public:
  // `session` must outlive the mailbox; `profile` names it in messages.
  Mailbox(Session& session, std::string profile)
      : session_(session), profile_(std::move(profile)) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;
  ~Mailbox();

  // The default store (MDB_WRITE | MDB_NO_MAIL), the named properties (GetIDsFromNames with
  // MAPI_CREATE), the six folders, the root folder and Deleted Items.
  Result<void> open();

  const Api& api() const { return session_.api(); }
  IMsgStore* store() const { return store_.get(); }
  IMAPIFolder* root() const { return root_.get(); }
  IMAPIFolder* folder(Folder f) const { return folders_.at(f).folder.get(); }
  IMAPIFolder* wastebasket() const { return wastebasket_.get(); }
  const Binary& wastebasket_id() const { return wastebasket_id_; }

  // The tag of a property in this store (named properties resolved at open).
  ULONG tag_of(const PropRef& r) const;

  Result<Com<IMessage>> open_message(const Binary& id, bool write);
  // kNotFound when the property is missing.
  Result<Binary> binary_prop(IMAPIProp* p, ULONG tag);
  // Sets the values, deletes the monostate ones.
  Result<void> write_props(IMessage* m, const std::vector<PropWrite>& writes);
  Result<void> write_strings(IMessage* m, const std::vector<std::pair<Named, std::string>>& props);
  Result<std::vector<Recipient>> read_recipients(IMessage* m);
  // Replaces the recipients of the given types; the others stay.
  Result<void> write_recipients(IMessage* m,
                                const std::map<std::int32_t, std::vector<Recipient>>& change);

  struct Head {
    ItemKind kind = ItemKind::kContact;
    Folder folder = Folder::kContacts;
    Binary change_key;
  };
  // Kind, synced folder and change key (kNotFound outside the six folders).
  Result<Head> head_of(IMessage* m);
  std::optional<Folder> folder_of(const Binary& parent);
  bool same_entry(const Binary& a, const Binary& b);

  // The store item of an entry id (kNotFound when gone or not synced); with `mark`, also what
  // U1 reads of it (its categories, tracked mark and TrackCategory).
  Result<StoreItem> read(const Binary& id, CategoryMark* mark = nullptr);
  // What U1 reads of an open message.
  Result<CategoryMark> mark_of(IMessage* m);
  // The tracked mark as the user's track or untrack sets it (SPEC U1, U2: tracked sets Tracked,
  // untracked clears the whole CRM link) with `categories`, saved; the new change key (hex).
  // kConflict when the message changed since `expected_change_key` (hex; "" = any).
  Result<std::string> write_mark(const Binary& id, const std::string& expected_change_key,
                                 bool tracked, const CategoryWrite& categories);
  // A binary property of any size, through a stream (PidTagRoamingXmlStream); "" when absent.
  Result<std::string> read_binary(IMessage* m, ULONG tag);
  Result<void> write_binary(IMessage* m, ULONG tag, std::string_view bytes);
  // The entry ids of a folder's (or its associated) contents, newest modification first.
  Result<std::vector<Binary>> entry_ids(IMAPIFolder* f, ULONG flags, SRestriction* r);

 private:
  struct OpenFolder {
    Binary entry_id;
    Com<IMAPIFolder> folder;
  };
  Result<void> open_default_store();
  Result<void> resolve_named();
  Result<void> open_folders();
  Result<Com<IMAPIFolder>> open_folder(const Binary& id);
  Result<std::u16string> read_stream(IMessage* m, ULONG tag);

  Session& session_;
  std::string profile_;
  Com<IMsgStore> store_;
  Com<IMAPIFolder> root_;
  Com<IMAPIFolder> wastebasket_;
  Binary wastebasket_id_;
  std::map<Folder, OpenFolder> folders_;
  std::array<ULONG, static_cast<std::size_t>(Named::kCount)> named_tags_{};
};

}  // namespace crmsync::mapi
