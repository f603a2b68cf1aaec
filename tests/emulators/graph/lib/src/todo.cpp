// To Do specifics: a task's defaults and completion (todotasklist-post-tasks.md), its
// dateTimeTimeZone values, and its linked resources as a collection of their own.
#include "service.hpp"
#include "tz.hpp"

namespace graph_emulator {

namespace {

using Alloc = rapidjson::Document::AllocatorType;

bool has_value(const rapidjson::Value& d, const char* k) {
  return d.HasMember(k) && !d[k].IsNull();
}

void set_default(rapidjson::Value& d, const char* k, rapidjson::Value v, Alloc& a) {
  if (!has_value(d, k)) put_value(d, k, v, a);
}

rapidjson::Value str(const std::string& s, Alloc& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void check_task_time(const rapidjson::Value& d, const char* k) {
  if (!has_value(d, k)) return;
  std::string zone = str_member(d[k], "timeZone");
  local_to_utc(str_member(d[k], "dateTime"), zone.empty() ? "UTC" : zone);
}

}  // namespace

void prepare_task(rapidjson::Document& d, Alloc& a, bool create) {
  for (const char* k : {"dueDateTime", "startDateTime", "reminderDateTime", "completedDateTime"})
    check_task_time(d, k);
  if (create) {
    set_default(d, "status", str("notStarted", a), a);
    set_default(d, "importance", str("normal", a), a);
    set_default(d, "isReminderOn", rapidjson::Value(false), a);
    set_default(d, "hasAttachments", rapidjson::Value(false), a);
    if (!has_value(d, "body")) {
      rapidjson::Value b(rapidjson::kObjectType);
      b.AddMember("content", "", a);
      b.AddMember("contentType", "text", a);
      put_value(d, "body", b, a);
    }
    if (has_value(d, "linkedResources"))
      for (auto& r : d["linkedResources"].GetArray()) put_string(r, "id", new_guid(), a);
  }
  // To Do sets completedDateTime when a task is completed and clears it when it is reopened.
  bool completed = str_member(d, "status") == "completed";
  if (completed && !has_value(d, "completedDateTime")) {
    rapidjson::Value t(rapidjson::kObjectType);
    std::string now = format_utc(emulator::now_ms());
    t.AddMember("dateTime", str(now.substr(0, now.size() - 1), a), a);
    t.AddMember("timeZone", "UTC", a);
    put_value(d, "completedDateTime", t, a);
  } else if (!completed && d.HasMember("completedDateTime")) {
    d.RemoveMember("completedDateTime");
  }
}

// /todo/lists/{id}/tasks/{id}/linkedResources[/{id}]: list, create, get, update, delete. The
// resources live inside the task; a change is a change of the task (new change key, in delta).
emulator::Reply linked_resources(Ctx& c, Service& s, Item& task, std::size_t at) {
  const auto& segs = c.segs;
  rapidjson::Document d;
  d.Parse(task.data.c_str(), task.data.size());
  auto& a = d.GetAllocator();
  if (!d.HasMember("linkedResources")) {
    rapidjson::Value arr(rapidjson::kArrayType);
    d.AddMember("linkedResources", arr, a);
  }
  auto& list = d["linkedResources"];
  std::string ctx =
      context_url(c, "todo/lists('" + task.parent + "')/tasks('" + task.id + "')/linkedResources");
  auto save = [&] {
    task.data = to_json(d);
    emulator::Db::Transaction t(s.store().db());
    s.store().update(task);
    t.commit();
  };
  auto one = [&](const rapidjson::Value& r, int status) {
    rapidjson::Value copy;
    rapidjson::Document out;
    out.CopyFrom(r, out.GetAllocator());
    out.AddMember("@odata.context",
                  rapidjson::Value((ctx + "/$entity").c_str(), out.GetAllocator()),
                  out.GetAllocator());
    return json_reply(c, status, to_json(out));
  };
  if (segs.size() == at) {
    if (c.method == "GET") {
      return json_reply(c, 200,
                        "{\"@odata.context\":" + emulator::json_string(ctx) +
                            ",\"value\":" + to_json(list) + "}");
    }
    if (c.method != "POST")
      throw GraphError(405, "BadRequest", "The OData request is not supported.");
    auto body = parse_body(c.req, s.csdl(), "linkedResource", {});
    rapidjson::Value r;
    r.CopyFrom(body, a);
    r.RemoveMember("@odata.type");
    put_string(r, "id", new_guid(), a);
    list.PushBack(r, a);
    save();
    return one(list[list.Size() - 1], 201);
  }
  if (segs.size() != at + 1)
    throw bad_request("BadRequest", "Resource not found for the segment '" + segs[at + 1] + "'.");
  rapidjson::SizeType index = list.Size();
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i)
    if (str_member(list[i], "id") == segs[at]) index = i;
  if (index == list.Size()) throw not_found();
  if (c.method == "GET") return one(list[index], 200);
  if (c.method == "DELETE") {
    list.Erase(list.Begin() + index);
    save();
    auto r = json_reply(c, 204, "");
    r.content_type = "text/plain";
    return r;
  }
  if (c.method != "PATCH")
    throw GraphError(405, "BadRequest", "The OData request is not supported.");
  auto body = parse_body(c.req, s.csdl(), "linkedResource", {});
  for (auto m = body.MemberBegin(); m != body.MemberEnd(); ++m) {
    std::string key = m->name.GetString();
    if (key == "id" || key.find('@') != std::string::npos) continue;
    rapidjson::Value v;
    v.CopyFrom(m->value, a);
    put_value(list[index], key, v, a);
  }
  save();
  return one(list[index], 200);
}

}  // namespace graph_emulator
