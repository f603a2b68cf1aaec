// The SOAP reader and writer: namespaces, QNames in i:type, faults, hostile input.
#include <catch2/catch.hpp>

#include "crmsync/soap/envelope.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace crmsync::soap;

TEST_CASE("parse_xml resolves element - attribute and i:type prefixes", "[soap]") {
  auto root = parse_xml(
      R"(<x:root xmlns:x="urn:x" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
           <child xmlns="urn:default" i:type="x:Thing">text &amp; more</child>
           <x:other xmlns:x="urn:rebound" i:type="x:Other" i:nil="true"/>
         </x:root>)");
  REQUIRE(root.ok());
  CHECK(root->is("urn:x", "root"));
  const Element* child = root->child("urn:default", "child");
  REQUIRE(child);
  CHECK(child->text() == "text & more");
  auto t = child->xsi_type();
  REQUIRE(t.ok());
  REQUIRE(t->has_value());
  CHECK((*t)->is("urn:x", "Thing"));
  const Element* other = root->child("urn:rebound", "other");
  REQUIRE(other);
  CHECK(other->nil());
  auto t2 = other->xsi_type();
  REQUIRE(t2.ok());
  CHECK((*t2)->is("urn:rebound", "Other"));
}

TEST_CASE("an i:type with an undeclared prefix is kInvalid", "[soap]") {
  auto root = parse_xml(
      R"(<r xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><v i:type="zz:int">1</v></r>)");
  REQUIRE(root.ok());
  auto t = root->children().front().xsi_type();
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().is(ErrorKind::kInvalid));
}

TEST_CASE("hostile XML gives a clear kInvalid", "[soap][hostile]") {
  struct Case {
    const char* name;
    std::string xml;
    const char* reason;
  };
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "<a>";
  for (int i = 0; i < 1000; ++i) deep += "</a>";
  std::string billion =
      R"(<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>)";
  std::vector<Case> cases = {
      {"malformed", "<a><b></a>", "malformed"},
      {"truncated", "<s:Envelope xmlns:s='x'><s:Body>", "malformed"},
      {"empty", "", "malformed"},
      {"doctype", "<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>", "DOCTYPE"},
      {"entity expansion", billion, "DOCTYPE"},
      {"1000-deep nesting", deep, "deeper"},
      {"invalid UTF-8", "<a>\xC3\x28</a>", "UTF-8"},
      {"overlong UTF-8", "<a>\xC0\xAF</a>", "UTF-8"},
      {"undeclared prefix", "<p:a/>", "undeclared"},
      // Character references to surrogates or past U+10FFFF (found by fuzzing).
      {"surrogate reference in text", "<a>&#xD800;</a>", "reference to no character"},
      {"reference past U+10FFFF", "<a>&#x110000;</a>", "reference to no character"},
      {"surrogate reference in an attribute", "<a b='&#56320;'/>", "reference to no character"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = parse_xml(c.xml);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    CHECK_THAT(r.error().message(), Catch::Contains(c.reason));
  }
  // Nesting at tinyxml2's own limit and within ours is caught too, by the configured limit.
  std::string mid;
  for (int i = 0; i < 80; ++i) mid += "<a>";
  for (int i = 0; i < 80; ++i) mid += "</a>";
  auto r = parse_xml(mid, ParseLimits{1 << 20, 64});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("deeper than 64"));
}

TEST_CASE("oversized XML is refused before parsing", "[soap][hostile]") {
  std::string big = "<a>" + std::string(2000, 'x') + "</a>";
  auto r = parse_xml(big, ParseLimits{1000, 64});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
  CHECK_THAT(r.error().message(), Catch::Contains("larger than 1000"));
}

TEST_CASE("parse_envelope reads the captured OrganizationServiceFault", "[soap]") {
  auto ref = crmtest::require_reference();
  if (!ref) return;
  auto xml =
      crmtest::read_text(*ref / "crm/xrm2011/samples/resp-fault-object-does-not-exist.soap11.xml");
  auto env = parse_envelope(xml);
  REQUIRE(env.ok());
  REQUIRE(env->fault);
  CHECK(env->fault->code.local == "Client");
  CHECK(env->fault->code.ns == kSoapEnvNs);
  REQUIRE(env->fault->error_code);
  CHECK(*env->fault->error_code == -2147220969);
  CHECK_THAT(env->fault->message, Catch::Contains("Does Not Exist"));
}

TEST_CASE("a fault with a non-numeric ErrorCode is kInvalid", "[soap][hostile]") {
  auto env = parse_envelope(
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
      <faultcode>s:Client</faultcode><faultstring>x</faultstring><detail>
      <OrganizationServiceFault xmlns="http://schemas.microsoft.com/xrm/2011/Contracts">
      <ErrorCode>oops</ErrorCode></OrganizationServiceFault></detail></s:Fault></s:Body></s:Envelope>)");
  REQUIRE_FALSE(env.ok());
  CHECK(env.error().is(ErrorKind::kInvalid));
}

TEST_CASE("parse_envelope refuses what is not a SOAP 1.1 envelope", "[soap]") {
  auto soap12 = parse_envelope(
      R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>)");
  REQUIRE_FALSE(soap12.ok());
  CHECK(soap12.error().is(ErrorKind::kInvalid));
  auto html = parse_envelope("<html><body>Service Unavailable</body></html>");
  REQUIRE_FALSE(html.ok());
}

TEST_CASE("XmlWriter escapes text and attributes", "[soap]") {
  XmlWriter w;
  w.open("a").attr("x", "1\"2<").text("a&b<c>'\r").open("b").close();
  std::string xml = w.take();
  CHECK(xml == "<a x=\"1&quot;2&lt;\">a&amp;b&lt;c&gt;&apos;&#13;<b/></a>");
  auto back = parse_xml(xml);
  REQUIRE(back.ok());
  CHECK(back->text() == "a&b<c>'\r");
  CHECK(*back->attribute("", "x") == "1\"2<");
}

TEST_CASE("is_xml_text rejects control characters and bad UTF-8", "[soap]") {
  CHECK(is_xml_text("plain ünïcödé 日本 \t\n"));
  CHECK_FALSE(is_xml_text(std::string("nul\0", 4)));
  CHECK_FALSE(is_xml_text("bell\x07"));
  CHECK_FALSE(is_xml_text("\xED\xA0\x80"));  // a surrogate
}
