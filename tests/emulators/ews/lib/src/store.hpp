// SQLite storage: users and their mailboxes (folders, items as canonical XML),
// per-field change history (for AutoResolve), sync states and the event log.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ews_emulator {

struct User {
  std::int64_t id = 0;
  std::string email;
  std::string password;
  std::string token;
  std::string auth = "any";  // "any" (Basic, Bearer, NTLM) or "negotiate" (NTLM only)
  std::string ntlm_user;     // "DOMAIN\\user" for NTLM
};

struct Folder {
  std::string id;
  std::int64_t mailbox = 0;
  std::string name;  // distinguished name (contacts, inbox, ...)
  std::string parent;
  std::string display;
};

struct Item {
  std::string id;
  std::int64_t mailbox = 0;
  std::string folder;
  std::string kind;     // element name: Contact, Task, CalendarItem, Message, Item
  std::string xml;      // <t:Kind xmlns:t=...>fields</t:Kind>
  std::int64_t cn = 0;  // change number (encoded in the ChangeKey)
  std::string created;
  std::string modified;
};

struct Event {
  std::int64_t seq = 0;
  std::int64_t mailbox = 0;
  std::string type;  // CreatedEvent, ModifiedEvent, DeletedEvent, MovedEvent, NewMailEvent
  std::string item;
  std::int64_t cn = 0;
  std::string folder;
  std::string old_item;
  std::string old_folder;
  std::string ts;
};

// A user configuration object (GetUserConfiguration and its kin): stored per folder and name,
// its parts as the request gave them (the Dictionary as canonical XML, the data as base64).
struct UserConfig {
  std::string folder;
  std::string name;
  std::string id;  // the configuration's item id
  std::int64_t cn = 0;
  std::string dictionary;   // "<t:Dictionary>...</t:Dictionary>" or ""
  std::string xml_data;     // base64, "" = none
  std::string binary_data;  // base64, "" = none
};

class Store {
 public:
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  void begin();
  void commit();
  void rollback();
  void reset();

  // Creates the user and the mailbox's distinguished folders.
  User add_user(const std::string& email, const std::string& password,
                const std::string& auth = "any", const std::string& ntlm_user = "");
  std::optional<User> user_by_email(const std::string& email);
  std::optional<User> user_by_token(const std::string& token);
  std::vector<User> users();

  std::vector<Folder> folders(std::int64_t mailbox);
  std::optional<Folder> folder(const std::string& id);
  std::optional<Folder> distinguished(std::int64_t mailbox, const std::string& name);

  std::optional<Item> item(const std::string& id);
  std::vector<Item> items_in(const std::string& folder);
  std::int64_t count_in(const std::string& folder);
  void put_item(const Item& item);  // insert or replace
  void delete_item(const std::string& id);

  std::int64_t next_cn();
  void record_fields(const std::string& item, std::int64_t cn, const std::vector<std::string>& f);
  // Highest change number > `since` that touched one of `fields` (0 if none).
  std::int64_t changed_since(const std::string& item, std::int64_t since,
                             const std::vector<std::string>& fields);

  void put_sync_state(const std::string& token, const std::string& folder, const std::string& data);
  std::optional<std::pair<std::string, std::string>> sync_state(const std::string& token);

  std::optional<UserConfig> user_config(const std::string& folder, const std::string& name);
  void put_user_config(const UserConfig& c);  // insert or replace
  void delete_user_config(const std::string& folder, const std::string& name);

  std::int64_t append_event(const Event& e);
  std::vector<Event> events_after(std::int64_t mailbox, std::int64_t seq, int limit);
  std::int64_t last_event_seq();

 private:
  void exec(const char* sql);
  sqlite3* db_ = nullptr;
};

}  // namespace ews_emulator
