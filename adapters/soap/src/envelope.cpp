#include "crmsync/soap/envelope.hpp"

#include <charconv>

namespace crmsync::soap {

Result<Fault> parse_organization_fault(const Element& f) {
  Fault fault;
  if (const Element* code = f.child_any_ns("ErrorCode")) {
    std::int64_t v = 0;
    const std::string& t = code->text();
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || p != t.data() + t.size() || t.empty())
      return Error::Invalid("fault ErrorCode \"" + t.substr(0, 40) + "\" is not a number");
    fault.error_code = v;
  }
  if (const Element* m = f.child_any_ns("Message")) fault.message = m->text();
  if (const Element* d = f.child_any_ns("ErrorDetails")) {
    for (const auto& kv : d->children()) {
      const Element* k = kv.child_any_ns("key");
      const Element* v = kv.child_any_ns("value");
      if (k) fault.details.emplace_back(k->text(), v ? v->text() : std::string{});
    }
  }
  return fault;
}

namespace {

const Element* find_descendant(const Element& e, std::string_view local, int depth = 0) {
  if (depth > 8) return nullptr;
  for (const auto& c : e.children()) {
    if (c.name() == local) return &c;
    if (const Element* d = find_descendant(c, local, depth + 1)) return d;
  }
  return nullptr;
}

}  // namespace

Result<Envelope> parse_envelope(std::string_view xml, const ParseLimits& limits) {
  auto root = parse_xml(xml, limits);
  if (!root.ok()) return root.error();
  if (!root->is(kSoapEnvNs, "Envelope"))
    return Error::Invalid("not a SOAP 1.1 envelope (root <" + root->name() + "> in \"" +
                          root->ns() + "\")");
  const Element* body = root->child(kSoapEnvNs, "Body");
  if (!body) return Error::Invalid("SOAP envelope has no Body");
  Envelope env;
  if (body->children().empty()) return env;
  const Element& first = body->children().front();
  if (first.is(kSoapEnvNs, "Fault")) {
    Fault fault;
    if (const Element* detail = first.child_any_ns("detail")) {
      if (const Element* osf = find_descendant(*detail, "OrganizationServiceFault")) {
        auto parsed = parse_organization_fault(*osf);
        if (!parsed.ok()) return parsed.error();
        fault = std::move(parsed.value());
      }
    }
    if (const Element* code = first.child_any_ns("faultcode")) {
      auto q = code->resolve(code->text());
      fault.code = q ? *q : QName{"", code->text()};
    }
    if (const Element* s = first.child_any_ns("faultstring")) fault.string = s->text();
    env.fault = std::move(fault);
    return env;
  }
  env.body = first;
  return env;
}

std::string wrap_envelope(std::string_view body_xml) {
  std::string out;
  out.reserve(body_xml.size() + 128);
  out += "<s:Envelope xmlns:s=\"";
  out += kSoapEnvNs;
  out += "\"><s:Body>";
  out += body_xml;
  out += "</s:Body></s:Envelope>";
  return out;
}

}  // namespace crmsync::soap
