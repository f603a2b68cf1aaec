// JSON batching (concepts/json-batching.md): POST /v1.0/$batch with at most 20 requests, each
// {id, method, url[, headers, body, dependsOn]}; run in dependency order; a dependent of a
// failed request answers 424; the batch answers 200 with {responses:[{id,status,headers,body}]}.
#include <map>

#include "service.hpp"

namespace graph_emulator {

namespace {

constexpr std::size_t kMaxBatch = 20;

GraphError invalid(const std::string& message) {
  return bad_request("BadRequest", message);
}

struct Member {
  std::string id;
  const rapidjson::Value* v = nullptr;
  std::vector<std::string> depends;  // lower-cased ids
};

}  // namespace

emulator::Reply Service::batch(const emulator::Request& req, const Caller& caller) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(req.body.c_str(), req.body.size());
  if (doc.HasParseError() || !doc.IsObject())
    throw invalid(
        "Unable to read JSON request payload. Please ensure Content-Type header is set and "
        "payload is of valid JSON format.");
  if (!doc.HasMember("requests") || !doc["requests"].IsArray())
    throw invalid("Invalid batch payload format: \"requests\" must be an array.");
  const auto& requests = doc["requests"].GetArray();
  if (requests.Size() == 0) throw invalid("The batch holds no requests.");
  if (requests.Size() > kMaxBatch)
    throw invalid("The number of requests in a batch exceeds the maximum of " +
                  std::to_string(kMaxBatch) + ".");
  std::vector<Member> members;
  std::map<std::string, std::size_t> by_id;
  for (const auto& r : requests) {
    if (!r.IsObject()) throw invalid("Each batch request must be a JSON object.");
    std::string id = str_member(r, "id");
    if (id.empty()) throw invalid("Each batch request needs an \"id\" string.");
    if (by_id.count(lower(id))) throw invalid("The batch request id '" + id + "' is not unique.");
    if (str_member(r, "method").empty() || str_member(r, "url").empty())
      throw invalid("The batch request '" + id + "' needs \"method\" and \"url\".");
    if (r.HasMember("headers") && !r["headers"].IsObject())
      throw invalid("The headers of batch request '" + id + "' must be an object.");
    if (r.HasMember("body")) {
      bool typed = false;
      if (r.HasMember("headers"))
        for (auto h = r["headers"].MemberBegin(); h != r["headers"].MemberEnd(); ++h)
          if (iequal(h->name.GetString(), "Content-Type")) typed = true;
      if (!typed)
        throw invalid("The batch request '" + id + "' has a body but no Content-Type header.");
    }
    Member m{id, &r, {}};
    if (r.HasMember("dependsOn")) {
      if (!r["dependsOn"].IsArray()) throw invalid("dependsOn must be an array of ids.");
      for (const auto& d : r["dependsOn"].GetArray()) {
        if (!d.IsString()) throw invalid("dependsOn must be an array of ids.");
        m.depends.push_back(lower(d.GetString()));
      }
    }
    by_id[lower(id)] = members.size();
    members.push_back(std::move(m));
  }
  for (const auto& m : members)
    for (const auto& d : m.depends)
      if (!by_id.count(d) || d == lower(m.id))
        throw invalid("The batch request '" + m.id + "' depends on an unknown request '" + d +
                      "'.");
  // Dependency order (Kahn); a cycle refuses the batch.
  std::vector<std::size_t> order;
  std::vector<bool> done(members.size(), false);
  while (order.size() < members.size()) {
    bool progress = false;
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (done[i]) continue;
      bool ready = true;
      for (const auto& d : members[i].depends) ready = ready && done[by_id[d]];
      if (!ready) continue;
      done[i] = true;
      order.push_back(i);
      progress = true;
    }
    if (!progress) throw invalid("The dependsOn of the batch requests form a cycle.");
  }

  std::vector<int> status(members.size(), 0);
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("responses");
  w.StartArray();
  for (std::size_t i : order) {
    const Member& m = members[i];
    const auto& r = *m.v;
    emulator::Reply reply;
    bool failed_dependency = false;
    for (const auto& d : m.depends) failed_dependency |= status[by_id[d]] >= 400;
    std::string client_id = req.header("client-request-id");
    if (failed_dependency) {
      reply = error_reply(
          GraphError(424, "FailedDependency", "The request depends on a request that failed."),
          client_id);
    } else {
      emulator::Request inner;
      inner.method = str_member(r, "method");
      std::string url = str_member(r, "url");
      if (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) {
        auto v = url.find("/v1.0/");
        url = v == std::string::npos ? url : url.substr(v + 5);
      }
      inner.target = "/v1.0" + std::string(url.front() == '/' ? "" : "/") + url;
      auto q = inner.target.find('?');
      inner.path = inner.target.substr(0, q);
      if (q != std::string::npos) inner.query = inner.target.substr(q + 1);
      inner.headers.push_back({"Host", req.header("Host")});
      inner.headers.push_back({"Authorization", req.header("Authorization")});
      if (r.HasMember("headers"))
        for (auto h = r["headers"].MemberBegin(); h != r["headers"].MemberEnd(); ++h)
          if (h->value.IsString())
            inner.headers.push_back({h->name.GetString(), h->value.GetString()});
      if (r.HasMember("body"))
        inner.body = r["body"].IsString() ? r["body"].GetString() : to_json(r["body"]);
      inner.peer_loopback = req.peer_loopback;
      inner.tls = req.tls;
      auto decision = admin_.faults().roll();
      if (decision.kind == emulator::FaultInjector::Decision::kThrottle) {
        GraphError e(429, "TooManyRequests", "Please retry again later.");
        e.inner_code = "429";
        e.headers.push_back({"Retry-After", std::to_string(decision.retry_after_s)});
        reply = error_reply(e, client_id);
      } else if (decision.kind == emulator::FaultInjector::Decision::kError) {
        GraphError e(503, "serviceNotAvailable",
                     "The service is not available. Try the request again after a delay.");
        e.headers.push_back({"Retry-After", "1"});
        reply = error_reply(e, client_id);
      } else {
        try {
          if (inner.path.rfind("/v1.0/$batch", 0) == 0)
            throw invalid("A batch request cannot hold another batch.");
          if (inner.body.size() > 4u * 1024u * 1024u)
            throw GraphError(413, "RequestEntityTooLarge",
                             "The request body exceeds the maximum request length of 4 MB.");
          reply = graph(inner, caller);
        } catch (const GraphError& e) {
          reply = error_reply(e, client_id);
        }
      }
      emulator::RequestLog::Entry entry{
          inner.method,       inner.target,     inner.body, reply.status,
          emulator::now_ms(), decision.label(), {}};
      entry.extra.push_back({"batch", m.id});
      admin_.log().add(std::move(entry));
    }
    status[i] = reply.status;
    w.StartObject();
    w.Key("id");
    w.String(m.id.c_str());
    w.Key("status");
    w.Int(reply.status);
    w.Key("headers");
    w.StartObject();
    w.Key("Content-Type");
    w.String(reply.content_type.c_str());
    for (const auto& h : reply.headers) {
      w.Key(h.name.c_str());
      w.String(h.value.c_str());
    }
    w.EndObject();
    if (!reply.body.empty()) {
      rapidjson::Document body;
      body.Parse(reply.body.c_str(), reply.body.size());
      if (!body.HasParseError()) {
        w.Key("body");
        body.Accept(w);
      }
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  auto out = emulator::Reply::json(200, sb.GetString());
  out.content_type = "application/json; charset=utf-8";
  return out;
}

}  // namespace graph_emulator
