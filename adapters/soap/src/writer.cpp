#include "crmsync/soap/xml.hpp"

#include "crmsync/model/encoding.hpp"

namespace crmsync::soap {

void XmlWriter::end_start_tag() {
  if (in_start_tag_) {
    out_ += '>';
    in_start_tag_ = false;
  }
}

XmlWriter& XmlWriter::open(std::string_view qname) {
  end_start_tag();
  out_ += '<';
  out_ += qname;
  stack_.emplace_back(qname);
  in_start_tag_ = true;
  has_content_ = false;
  return *this;
}

XmlWriter& XmlWriter::attr(std::string_view name, std::string_view value) {
  if (!in_start_tag_) return *this;
  out_ += ' ';
  out_ += name;
  out_ += "=\"";
  out_ += xml_escape(value);
  out_ += '"';
  return *this;
}

XmlWriter& XmlWriter::text(std::string_view text) {
  end_start_tag();
  out_ += xml_escape(text);
  has_content_ = true;
  return *this;
}

XmlWriter& XmlWriter::raw(std::string_view xml) {
  end_start_tag();
  out_ += xml;
  has_content_ = true;
  return *this;
}

XmlWriter& XmlWriter::close() {
  if (stack_.empty()) return *this;
  if (in_start_tag_) {
    out_ += "/>";
    in_start_tag_ = false;
  } else {
    out_ += "</";
    out_ += stack_.back();
    out_ += '>';
  }
  stack_.pop_back();
  has_content_ = true;
  return *this;
}

std::string XmlWriter::take() {
  while (!stack_.empty()) close();
  std::string out = std::move(out_);
  out_.clear();
  return out;
}

}  // namespace crmsync::soap
