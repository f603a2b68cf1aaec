// To Do (lists, tasks, linked resources, delta) and mail (folders, drafts, delivery, delta).
#include <set>

#include "graph_test.hpp"

using graph_test::check_entities;
using graph_test::Emulator;
using graph_test::str;

namespace {

std::string default_list(Emulator& e) {
  auto lists = e.call("GET", "/v1.0/me/todo/lists").json();
  check_entities(lists, "todoTaskList");
  for (const auto& l : lists["value"].GetArray())
    if (str(l, "wellknownListName") == "defaultList") return str(l, "id");
  FAIL("no defaultList");
  return "";
}

// A whole delta round from `first` (a path or a link): {live ids, removed ids, deltaLink}.
std::tuple<std::set<std::string>, std::set<std::string>, std::string> delta_round(
    Emulator& e, const std::string& first, const std::string& type) {
  std::set<std::string> live, removed;
  auto page = first.rfind("http", 0) == 0 ? e.follow(first) : e.call("GET", first);
  for (int i = 0; i < 20; ++i) {
    INFO(page.body);
    REQUIRE(page.status == 200);
    auto j = page.json();
    check_entities(j, type);
    for (const auto& v : j["value"].GetArray())
      (v.HasMember("@removed") ? removed : live).insert(str(v, "id"));
    if (j.HasMember("@odata.deltaLink")) return {live, removed, str(j, "@odata.deltaLink")};
    page = e.follow(str(j, "@odata.nextLink"));
  }
  FAIL("no deltaLink");
  return {};
}

}  // namespace

TEST_CASE("To Do: the default list, tasks CRUD, linked resources, delta", "[graph][todo]") {
  REQUIRE_CSDL();
  Emulator e;
  std::string list = default_list(e);
  std::string tasks = "/v1.0/me/todo/lists/" + list + "/tasks";
  auto r = e.call("POST", tasks, R"({"title":"Call Ann","importance":"high",
      "dueDateTime":{"dateTime":"2027-07-25T16:00:00","timeZone":"Eastern Standard Time"},
      "linkedResources":[{"webUrl":"https://crm.example.com/task/1","applicationName":"CRM",
                          "displayName":"Task 1","externalId":"crm-task-1"}]})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto task = r.json();
  check_entities(task, "todoTask");
  CHECK(str(task, "status") == "notStarted");
  CHECK(task["isReminderOn"].IsFalse());
  CHECK(str(task["body"], "contentType") == "text");
  CHECK(str(task["dueDateTime"], "dateTime") == "2027-07-25T20:00:00.0000000");
  REQUIRE(task["linkedResources"].Size() == 1);
  CHECK(str(task["linkedResources"][0], "id").size() == 36);
  CHECK(str(task["linkedResources"][0], "externalId") == "crm-task-1");
  std::string id = str(task, "id");

  auto plain = e.call("GET", tasks + "/" + id).json();
  CHECK_FALSE(plain.HasMember("linkedResources"));  // a navigation property: only expanded
  auto expanded = e.call("GET", tasks + "/" + id + "?$expand=linkedResources").json();
  CHECK(expanded["linkedResources"].Size() == 1);
  auto lr =
      e.call("POST", tasks + "/" + id + "/linkedResources",
             R"({"webUrl":"https://crm.example.com/x","applicationName":"CRM","displayName":"x"})");
  REQUIRE(lr.status == 201);
  check_entities(lr.json(), "linkedResource");
  auto lrs = e.call("GET", tasks + "/" + id + "/linkedResources").json();
  check_entities(lrs, "linkedResource");
  CHECK(lrs["value"].Size() == 2);
  CHECK(e.call("DELETE", tasks + "/" + id + "/linkedResources/" + str(lr.json(), "id")).status ==
        204);

  auto stale = e.call("PATCH", tasks + "/" + id, R"({"title":"x"})",
                      {{"If-Match", str(task, "@odata.etag")}});
  CHECK(stale.status == 412);  // linked resources changed the task
  auto [live, removed, link] = delta_round(e, tasks + "/delta", "todoTask");
  CHECK(live == std::set<std::string>{id});
  auto done = e.call("PATCH", tasks + "/" + id, R"({"status":"completed"})");
  REQUIRE(done.status == 200);
  auto dj = done.json();
  check_entities(dj, "todoTask");
  CHECK(dj["completedDateTime"].IsObject());
  auto other = e.call("POST", tasks, R"({"title":"Second"})");
  std::string other_id = str(other.json(), "id");
  REQUIRE(e.call("DELETE", tasks + "/" + id).status == 204);
  auto [live2, removed2, link2] = delta_round(e, link, "todoTask");
  CHECK(live2 == std::set<std::string>{other_id});
  CHECK(removed2 == std::set<std::string>{id});
  // Another list: a collection of its own.
  auto nl = e.call("POST", "/v1.0/me/todo/lists", R"({"displayName":"CRM"})");
  REQUIRE(nl.status == 201);
  check_entities(nl.json(), "todoTaskList");
  auto stale_token = e.follow(link2.replace(link2.find(list), list.size(), str(nl.json(), "id")));
  CHECK(stale_token.status == 410);
  // Unknown property and bad enum: refused.
  CHECK(e.call("POST", tasks, R"({"title":"x","priority":2})").status == 400);
  CHECK(e.call("POST", tasks, R"({"title":"x","status":"finished"})").status == 400);
}

TEST_CASE("mail: folders, drafts, delivered mail, PATCH/DELETE, delta per folder",
          "[graph][mail]") {
  REQUIRE_CSDL();
  Emulator e;
  auto inbox = e.call("GET", "/v1.0/me/mailFolders/inbox");
  REQUIRE(inbox.status == 200);
  check_entities(inbox.json(), "mailFolder");
  std::string inbox_id = str(inbox.json(), "id");
  std::string sent_id = str(e.call("GET", "/v1.0/me/mailFolders/sentitems").json(), "id");
  CHECK(inbox_id != sent_id);
  CHECK(str(e.call("GET", "/v1.0/me/mailFolders/" + inbox_id).json(), "displayName") == "Inbox");

  auto d = e.admin(
      "POST", "/admin/users/alice%40example.com/deliver",
      R"({"folder":"inbox","message":{"subject":"Quote","body":{"contentType":"HTML","content":"<p>Hi</p>"},
                      "from":{"emailAddress":{"address":"bob@contoso.com","name":"Bob"}},
                      "toRecipients":[{"emailAddress":{"address":"alice@example.com"}}]}})");
  INFO(d.body);
  REQUIRE(d.status == 200);
  std::string received = str(d.json(), "id");
  auto msg = e.call("GET", "/v1.0/me/messages/" + received).json();
  check_entities(msg, "message");
  CHECK(msg["isDraft"].IsFalse());
  CHECK(msg["isRead"].IsFalse());
  CHECK(str(msg["body"], "contentType") == "html");
  CHECK(str(msg["body"], "content") == "<html><head></head><body><p>Hi</p></body></html>");
  CHECK(str(msg, "parentFolderId") == inbox_id);
  auto as_text = e.call("GET", "/v1.0/me/messages/" + received, "",
                        {{"Prefer", "outlook.body-content-type=\"text\""}});
  CHECK(as_text.header("preference-applied") == "outlook.body-content-type=\"text\"");
  CHECK(str(as_text.json()["body"], "contentType") == "text");
  CHECK(str(as_text.json()["body"], "content") == "Hi");
  CHECK(e.call("GET", "/v1.0/me/mailFolders/inbox").json()["unreadItemCount"].GetInt() == 1);

  auto [live, removed, link] =
      delta_round(e, "/v1.0/me/mailFolders/inbox/messages/delta?$select=subject,isRead", "message");
  CHECK(live == std::set<std::string>{received});
  CHECK(link.find("/mailfolders('") != std::string::npos);

  auto draft =
      e.call("POST", "/v1.0/me/mailFolders/" + sent_id + "/messages", R"({"subject":"Draft"})");
  REQUIRE(draft.status == 201);
  check_entities(draft.json(), "message");
  CHECK(draft.json()["isDraft"].IsTrue());
  CHECK(str(draft.json(), "parentFolderId") == sent_id);

  // message-update.md: the subject and body of a message that is not a draft stay.
  auto sent_subject = e.call("PATCH", "/v1.0/me/messages/" + received, R"({"subject":"Changed"})");
  CHECK(sent_subject.status == 400);
  CHECK(str(sent_subject.json()["error"], "code") == "ErrorInvalidPropertyUpdateSentMessage");
  auto p = e.call(
      "PATCH", "/v1.0/me/messages/" + received,
      R"({"isRead":true,"singleValueExtendedProperties":[{"id":"String {00020386-0000-0000-C000-000000000046} Name x-crm-tracked","value":"1"}]})");
  REQUIRE(p.status == 200);
  auto [live2, removed2, link2] = delta_round(e, link, "message");
  CHECK(live2 == std::set<std::string>{received});
  {
    auto page = e.follow(link);
    auto j = page.json();
    REQUIRE(j["value"].Size() == 1);
    CHECK(j["value"][0].HasMember("isRead"));  // the $select travels in the token
    CHECK_FALSE(j["value"][0].HasMember("body"));
  }
  REQUIRE(e.call("DELETE", "/v1.0/me/messages/" + received).status == 204);
  auto [live3, removed3, link3] = delta_round(e, link2, "message");
  CHECK(live3.empty());
  CHECK(removed3 == std::set<std::string>{received});
  // message-delta.md's options: changeType, receivedDateTime ge|gt, receivedDateTime desc.
  auto later = e.admin("POST", "/admin/users/alice%40example.com/deliver",
                       R"({"folder":"inbox","message":{"subject":"New",
                           "receivedDateTime":"2030-01-02T00:00:00Z"}})");
  REQUIRE(later.status == 200);
  std::string later_id = str(later.json(), "id");
  auto [created, gone_c, l1] = delta_round(e, link3 + "&changeType=created", "message");
  CHECK(created == std::set<std::string>{later_id});
  auto [fresh_live, fresh_removed, fl] =
      delta_round(e,
                  "/v1.0/me/mailFolders/inbox/messages/delta?changeType=created&$filter=" +
                      graph_test::url_encode("receivedDateTime ge 2029-01-01T00:00:00Z") +
                      "&$orderby=receivedDateTime%20desc",
                  "message");
  CHECK(fresh_live == std::set<std::string>{later_id});
  CHECK(e.call("GET", "/v1.0/me/mailFolders/inbox/messages/delta?changeType=moved").status == 400);
  CHECK(e.call("GET", "/v1.0/me/mailFolders/inbox/messages/delta?$orderby=subject").status == 400);
  CHECK(e.call("GET", "/v1.0/me/contacts/delta?changeType=created").status == 400);
  // The draft in Sent Items is not in the inbox's delta, and the inbox's token is not the
  // sent items' token.
  auto sent_round = e.follow(link3.replace(link3.find(inbox_id), inbox_id.size(), sent_id));
  CHECK(sent_round.status == 410);
  CHECK(str(sent_round.json()["error"], "code") == "syncStateNotFound");
}

TEST_CASE("a lease as compare-and-set: a message's extended property under If-Match",
          "[graph][mail][concurrency]") {
  REQUIRE_CSDL();
  Emulator e;
  // SPEC §6 hosted in the mailbox: one hidden message carries the lease; every holder writes
  // it with If-Match, so of two clients that read the same change key only one wins.
  const std::string prop = "String {6f1b3ad2-38a4-4d5e-9c1f-0d7f3c9b2a41} Name CrmSyncLease";
  auto folder = e.call("POST", "/v1.0/me/mailFolders", R"({"displayName":"crmsync"})");
  REQUIRE(folder.status == 201);
  CHECK(e.call("POST", "/v1.0/me/mailFolders", R"({"displayName":"CRMSYNC"})").status == 409);
  auto drafts = folder.json();
  auto lease =
      e.call("POST", "/v1.0/me/mailFolders/" + str(drafts, "id") + "/messages",
             "{\"subject\":\"crmsync lease\",\"singleValueExtendedProperties\":[{\"id\":\"" + prop +
                 "\",\"value\":\"free\"}]}");
  REQUIRE(lease.status == 201);
  std::string id = str(lease.json(), "id");
  std::string etag = str(lease.json(), "@odata.etag");
  auto take = [&](const std::string& who) {
    return e.call("PATCH", "/v1.0/me/messages/" + id,
                  "{\"singleValueExtendedProperties\":[{\"id\":\"" + prop + "\",\"value\":\"" +
                      who + " epoch 1\"}]}",
                  {{"If-Match", etag}});
  };
  auto first = take("desk-1");
  auto second = take("desk-2");
  CHECK(first.status == 200);
  CHECK(second.status == 412);
  std::string expand = "?$expand=singleValueExtendedProperties($filter=id%20eq%20'" +
                       graph_test::url_encode(prop) + "')";
  auto now = e.call("GET", "/v1.0/me/messages/" + id + expand).json();
  CHECK(str(now["singleValueExtendedProperties"][0], "value") == "desk-1 epoch 1");
}
