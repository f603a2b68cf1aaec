// JSON batching (json-batching.md): up to 20 requests in one POST to $batch, each answered on
// its own (possibly out of order). get_many and create_many go through it; members throttled
// on their own (429/503: refused unacted) are sent again after Retry-After.
#include <algorithm>
#include <thread>

#include "store.hpp"

namespace crmsync::graph {
namespace {

constexpr const char* kPrefer =
    "outlook.timezone=\"UTC\", outlook.body-content-type=\"text\", IdType=\"ImmutableId\"";

}  // namespace

std::vector<Result<GraphStoreImpl::BatchAnswer>> GraphStoreImpl::batch(
    const std::vector<BatchPart>& parts, bool may_repeat) {
  std::vector<Result<BatchAnswer>> out;
  out.reserve(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) out.emplace_back(Error::Internal("not sent"));
  const std::string root = client_.service_url("");
  const std::size_t size = static_cast<std::size_t>(config_.batch_size);
  for (std::size_t from = 0; from < parts.size(); from += size) {
    std::vector<std::size_t> todo;
    for (std::size_t i = from; i < std::min(parts.size(), from + size); ++i) todo.push_back(i);
    std::chrono::milliseconds backoff = config_.backoff_base;
    for (int attempt = 1; !todo.empty(); ++attempt) {
      Doc d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      Json requests(rapidjson::kArrayType);
      for (std::size_t i : todo) {
        const BatchPart& p = parts[i];
        Json r(rapidjson::kObjectType);
        put(r, "id", str(std::to_string(i), a), a);
        put(r, "method", str(p.method, a), a);
        std::string url = p.url.rfind(root, 0) == 0 ? "/" + p.url.substr(root.size()) : p.url;
        put(r, "url", str(url, a), a);
        Json headers(rapidjson::kObjectType);
        put(headers, "Prefer", str(kPrefer, a), a);
        if (!p.body.empty()) {
          put(headers, "Content-Type", str("application/json", a), a);
          Doc body;
          body.Parse(p.body.data(), p.body.size());
          put(r, "body", Json(body, a), a);
        }
        put(r, "headers", std::move(headers), a);
        requests.PushBack(r, a);
      }
      put(d, "requests", std::move(requests), a);
      auto reply = client_.call("POST", client_.service_url("$batch"), serialize(d),
                                CallOptions{may_repeat});
      if (!reply) {
        for (std::size_t i : todo) out[i] = reply.error();
        break;
      }
      const Json* responses = member(reply->json, "responses");
      if (!responses || !responses->IsArray()) {
        for (std::size_t i : todo) out[i] = Error::Invalid("$batch answer without responses");
        break;
      }
      std::vector<std::size_t> again;
      std::optional<int> wait_ms;
      std::vector<bool> answered(parts.size(), false);
      for (const auto& r : responses->GetArray()) {
        std::string id = text(r, "id");
        char* end = nullptr;
        unsigned long i = std::strtoul(id.c_str(), &end, 10);
        if (id.empty() || *end || std::find(todo.begin(), todo.end(), i) == todo.end() ||
            answered[i])
          continue;  // not one of ours: ignored (the missing ones fail below)
        answered[i] = true;
        const Json* status = member(r, "status");
        BatchAnswer ans;
        ans.status = status && status->IsInt() ? status->GetInt() : 0;
        if (const Json* h = member(r, "headers"); h && h->IsObject())
          for (auto m = h->MemberBegin(); m != h->MemberEnd(); ++m)
            if (m->value.IsString())
              ans.headers.emplace_back(m->name.GetString(), m->value.GetString());
        if (const Json* body = member(r, "body"); body && body->IsObject()) {
          ans.raw = serialize(*body);
          ans.json.CopyFrom(*body, ans.json.GetAllocator());
        }
        if (ans.status >= 200 && ans.status < 300) {
          out[i] = std::move(ans);
          continue;
        }
        Error e = error_of(ans.status, ans.headers, ans.raw, clock_);
        // Throttled members were refused unacted: they go again, creates included.
        if ((ans.status == 429 || ans.status == 503) && attempt < config_.max_attempts) {
          again.push_back(i);
          if (auto w = e.retry_after_ms()) wait_ms = std::max(wait_ms.value_or(0), *w);
        }
        out[i] = e;
      }
      for (std::size_t i : todo)
        if (!answered[i])
          out[i] = Error::Invalid("$batch answer lacks request " + std::to_string(i));
      todo = std::move(again);
      if (todo.empty()) break;
      std::chrono::milliseconds wait =
          std::max(backoff, std::chrono::milliseconds(wait_ms.value_or(0)));
      if (config_.sleep)
        config_.sleep(wait);
      else
        std::this_thread::sleep_for(wait);
      backoff = std::min(backoff * 2, config_.backoff_max);
    }
  }
  return out;
}

std::vector<Result<StoreItem>> GraphStoreImpl::get_many(const std::vector<EntryId>& ids) {
  std::vector<Result<StoreItem>> out;
  if (ids.empty()) return out;
  if (auto r = resolve(); !r.ok()) return std::vector<Result<StoreItem>>(ids.size(), r.error());
  if (config_.batch_size <= 1) {
    for (const auto& id : ids) out.push_back(get(id));
    return out;
  }
  out.assign(ids.size(), Result<StoreItem>(Error::Internal("not read")));
  std::vector<BatchPart> parts;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto split = split_entry(ids[i]);
    if (!split) {
      out[i] = Error::NotFound("item " + ids[i].str() + ": not a Graph item id");
      continue;
    }
    parts.push_back(BatchPart{"GET", read_url(split->first, split->second), ""});
    index.push_back(i);
  }
  auto answers = batch(parts, true);
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const std::size_t i = index[k];
    auto& ans = answers[k];
    if (!ans) {
      const Error& e = ans.error();
      const bool malformed_id = e.is(ErrorKind::kInvalid) &&
                                e.message().find("ErrorInvalidIdMalformed") != std::string::npos;
      out[i] = malformed_id ? Error::NotFound("item " + ids[i].str())
                            : e.context("item " + ids[i].str());
      continue;
    }
    out[i] = item_from(split_entry(ids[i])->first, ans->json);
  }
  return out;
}

std::vector<Result<StoreItem>> GraphStoreImpl::create_many(const std::vector<NewStoreItem>& items) {
  std::vector<Result<StoreItem>> out;
  if (items.empty()) return out;
  if (auto r = resolve(); !r.ok()) return std::vector<Result<StoreItem>>(items.size(), r.error());
  if (config_.batch_size <= 1) {
    for (const auto& n : items) out.push_back(create_one(n));
    return out;
  }
  out.assign(items.size(), Result<StoreItem>(Error::Internal("not created")));
  std::vector<BatchPart> parts;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto body = create_body(items[i], ctx_);
    if (!body) {
      out[i] = body.error();
      continue;
    }
    parts.push_back(BatchPart{"POST", create_url(items[i].folder), serialize(*body)});
    index.push_back(i);
  }
  // A batch whose reply is lost is not sent again: each of its items fails, and the engine's
  // X1 look-up by CRM id finds those the server made (events: transactionId).
  auto answers = batch(parts, false);
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const std::size_t i = index[k];
    if (!answers[k]) {
      out[i] = answers[k].error().context("create");
      continue;
    }
    out[i] = created(items[i], answers[k]->json);
  }
  return out;
}

}  // namespace crmsync::graph
