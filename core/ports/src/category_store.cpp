#include "crmsync/core/category_store.hpp"

#include <cstdint>

#include "crmsync/model/encoding.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync {

namespace {

bool kept_is(const TrackCategory& track, const std::string& kept) {
  return !kept.empty() && track.present_in({kept});
}

}  // namespace

CategoryWrite keep_in_step(const TrackCategory& track, const CategoryMark& mark, bool tracked) {
  CategoryWrite w;
  if (!track.enabled()) return w;
  w.categories = track.in_step(mark.categories, tracked);
  w.adds_ours = tracked && w.categories.has_value();
  if (tracked && !kept_is(track, mark.kept)) w.kept = track.name();
  if (!tracked && !mark.kept.empty()) w.kept = std::string();
  return w;
}

std::optional<Action> category_intent(const TrackCategory& track, const CategoryMark& mark) {
  return track.intent(mark.categories, mark.tracked, kept_is(track, mark.kept));
}

// ---- the master category list

namespace {

Error not_a_list(std::string_view why) {
  return Error::Invalid("category list: " + std::string(why));
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool starts_with(std::string_view s, std::size_t at, std::string_view prefix) {
  return s.size() - at >= prefix.size() && s.compare(at, prefix.size(), prefix) == 0;
}

std::string_view local_name(std::string_view qname) {
  auto colon = qname.find(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

// An attribute value with its references resolved (the five entities and numeric ones).
Result<std::string> unescape(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '&') {
      out += v[i];
      continue;
    }
    auto semi = v.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) return not_a_list("a broken reference");
    std::string_view ref = v.substr(i + 1, semi - i - 1);
    if (ref == "amp")
      out += '&';
    else if (ref == "lt")
      out += '<';
    else if (ref == "gt")
      out += '>';
    else if (ref == "quot")
      out += '"';
    else if (ref == "apos")
      out += '\'';
    else if (ref.size() > 1 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) return not_a_list("a broken character reference");
      std::uint32_t cp = 0;
      for (char c : digits) {
        int d = c >= '0' && c <= '9'          ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (d < 0) return not_a_list("a broken character reference");
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
        if (cp > 0x10FFFF) return not_a_list("a character reference out of range");
      }
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return not_a_list("a character XML forbids");
      append_utf8(out, static_cast<char32_t>(cp));
    } else {
      return not_a_list("an unknown entity &" + std::string(ref.substr(0, 16)) + ";");
    }
    i = semi;
  }
  return out;
}

// The value of attribute `want` (by local name) in a tag's attribute text; nullopt if absent.
Result<std::optional<std::string>> attribute(std::string_view attrs, std::string_view want) {
  std::size_t i = 0;
  std::optional<std::string> found;
  for (;;) {
    while (i < attrs.size() && is_space(attrs[i])) ++i;
    if (i >= attrs.size()) return found;
    std::size_t name_start = i;
    while (i < attrs.size() && !is_space(attrs[i]) && attrs[i] != '=') ++i;
    std::string_view name = attrs.substr(name_start, i - name_start);
    while (i < attrs.size() && is_space(attrs[i])) ++i;
    if (name.empty() || i >= attrs.size() || attrs[i] != '=')
      return not_a_list("a broken attribute");
    ++i;
    while (i < attrs.size() && is_space(attrs[i])) ++i;
    if (i >= attrs.size() || (attrs[i] != '"' && attrs[i] != '\''))
      return not_a_list("an attribute without quotes");
    const char quote = attrs[i++];
    auto end = attrs.find(quote, i);
    if (end == std::string_view::npos) return not_a_list("an unterminated attribute");
    if (local_name(name) == want && name.find(':') == std::string_view::npos) {
      auto v = unescape(attrs.substr(i, end - i));
      if (!v) return v.error();
      found = std::move(*v);
    }
    i = end + 1;
  }
}

// What the scan of a list document found.
struct Scan {
  std::vector<std::string> names;
  std::string root;            // the root's qualified name
  std::size_t root_start_end;  // one past the root start tag's '>'
  bool root_empty = false;     // <categories .../>
  std::size_t root_close = 0;  // where the root's end tag starts (when not empty)
};

Result<Scan> scan(std::string_view xml) {
  if (xml.size() > kMaxCategoryListBytes) return not_a_list("too large");
  Scan s;
  std::vector<std::string_view> open;  // the elements not closed yet
  bool root_seen = false, root_done = false;
  // A UTF-8 byte order mark may lead the document (it stays where it is).
  for (std::size_t pos = starts_with(xml, 0, "\xEF\xBB\xBF") ? 3 : 0;;) {
    auto lt = xml.find('<', pos);
    for (std::size_t i = pos; i < (lt == std::string_view::npos ? xml.size() : lt); ++i)
      if (open.empty() && !is_space(xml[i])) return not_a_list("text outside the root");
    if (lt == std::string_view::npos) break;
    if (starts_with(xml, lt, "<!--")) {
      auto end = xml.find("-->", lt + 4);
      if (end == std::string_view::npos) return not_a_list("an unterminated comment");
      pos = end + 3;
      continue;
    }
    if (starts_with(xml, lt, "<?")) {
      auto end = xml.find("?>", lt + 2);
      if (end == std::string_view::npos) return not_a_list("an unterminated declaration");
      pos = end + 2;
      continue;
    }
    if (starts_with(xml, lt, "<!")) return not_a_list("a DOCTYPE or CDATA section");
    std::size_t i = lt + 1;
    const bool closing = i < xml.size() && xml[i] == '/';
    if (closing) ++i;
    std::size_t name_start = i;
    while (i < xml.size() && !is_space(xml[i]) && xml[i] != '/' && xml[i] != '>') ++i;
    std::string_view qname = xml.substr(name_start, i - name_start);
    if (qname.empty()) return not_a_list("a tag without a name");
    std::size_t gt = i;
    for (char quote = 0; gt < xml.size(); ++gt) {
      const char c = xml[gt];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      } else if (c == '<') {
        return not_a_list("a '<' inside a tag");
      }
    }
    if (gt >= xml.size()) return not_a_list("a truncated tag");
    const bool empty = !closing && xml[gt - 1] == '/';
    std::string_view attrs = xml.substr(i, gt - i - (empty ? 1 : 0));
    pos = gt + 1;
    if (closing) {
      if (open.empty()) return not_a_list("an end tag without its start");
      if (open.back() != qname) return not_a_list("an element closed by another tag");
      open.pop_back();
      if (open.empty()) {
        s.root_close = lt;
        root_done = true;
      }
      continue;
    }
    if (!root_seen) {
      if (local_name(qname) != "categories") return not_a_list("the root is not <categories>");
      root_seen = true;
      s.root = std::string(qname);
      s.root_start_end = pos;
      s.root_empty = empty;
      if (empty) root_done = true;
      if (!empty) open.push_back(qname);
      continue;
    }
    if (root_done) return not_a_list("a second root");
    if (open.size() == 1 && local_name(qname) == "category") {
      auto name = attribute(attrs, "name");
      if (!name) return name.error();
      if (*name) s.names.push_back(std::move(**name));
    }
    if (!empty) open.push_back(qname);
    if (open.size() > 64) return not_a_list("nested too deeply");
  }
  if (!root_seen) return not_a_list("no root element");
  if (!root_done) return not_a_list("the root is not closed");
  return s;
}

std::string category_element(std::string_view prefix, std::string_view name, UtcTime now,
                             std::string_view guid) {
  const std::string when = now.iso();
  return "<" + std::string(prefix) + "category name=\"" + xml_escape(name, XmlControls::kAll) +
         "\" color=\"" + std::to_string(kTrackCategoryColor) +
         "\" keyboardShortcut=\"0\" usageCount=\"0\" lastTimeUsed=\"" + when + "\" guid=\"{" +
         xml_escape(guid) + "}\" renameOnFirstUse=\"0\"/>";
}

}  // namespace

Result<std::vector<std::string>> category_list_names(std::string_view xml) {
  auto s = scan(xml);
  if (!s) return s.error();
  return std::move(s->names);
}

Result<std::optional<std::string>> add_to_category_list(std::string_view xml, std::string_view name,
                                                        UtcTime now, std::string_view guid) {
  bool blank = true;
  for (char c : xml) blank = blank && is_space(c);
  if (blank)
    return std::optional<std::string>("<?xml version=\"1.0\"?><categories lastSavedTime=\"" +
                                      now.iso() + "\" xmlns=\"CategoryList.xsd\">" +
                                      category_element("", name, now, guid) + "</categories>");
  auto s = scan(xml);
  if (!s) return s.error();
  if (TrackCategory(std::string(name)).present_in(s->names)) return std::optional<std::string>();
  const auto colon = s->root.find(':');
  const std::string prefix = colon == std::string::npos ? "" : s->root.substr(0, colon + 1);
  const std::string element = category_element(prefix, name, now, guid);
  std::string out(xml);
  if (s->root_empty) {
    // <categories .../> becomes <categories ...>element</categories>.
    out.replace(s->root_start_end - 2, 2, ">" + element + "</" + s->root + ">");
  } else {
    out.insert(s->root_close, element);
  }
  return std::optional<std::string>(std::move(out));
}

}  // namespace crmsync
