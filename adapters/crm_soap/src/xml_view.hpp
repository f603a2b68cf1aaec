// A reply read in place: tinyxml2's document seen through soap::Element's interface (names
// resolved against the namespaces in scope, text, attributes, children), without copying it
// into an Element tree. The tree's allocations and frees were a quarter of an initial sync
// (issue #20); the codec's readers are templates over both (codec_read.hpp), so the two give
// the same answers by construction.
#pragma once

#include <tinyxml2.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crmsync/soap/xml.hpp"

namespace crmsync::crm_soap {

// The namespace declarations in scope, innermost (and, on one element, last) first.
struct NsScope {
  std::string_view prefix;  // "" for the default namespace
  std::string_view uri;
  const NsScope* outer = nullptr;
};

class ViewDocument;

class XmlView {
 public:
  XmlView(const tinyxml2::XMLElement* e, const NsScope* scope, std::string_view ns,
          std::string_view local, ViewDocument* doc)
      : e_(e), scope_(scope), ns_(ns), local_(local), doc_(doc) {}

  std::string_view ns() const { return ns_; }
  std::string_view name() const { return local_; }
  bool is(std::string_view ns, std::string_view local) const {
    return ns_ == ns && local_ == local;
  }
  std::string text() const;
  std::optional<XmlView> child(std::string_view ns, std::string_view local) const;
  std::optional<XmlView> child_any_ns(std::string_view local) const;
  std::optional<std::string> attribute(std::string_view ns, std::string_view local) const;
  std::optional<soap::QName> resolve(std::string_view qname) const;
  Result<std::optional<soap::QName>> xsi_type() const;
  bool nil() const;

  // The element children, in order (what Element::children() holds).
  class Children;
  Children children() const;

 private:
  friend class ViewDocument;
  // A child element with its own declarations in scope and its name resolved. Only valid for
  // a document ViewDocument::open accepted (every name resolves).
  XmlView view_of(const tinyxml2::XMLElement* child) const;

  const tinyxml2::XMLElement* e_;
  const NsScope* scope_;
  std::string_view ns_;
  std::string_view local_;
  ViewDocument* doc_;
};

// A range over the element children. Holds a copy of the parent, so a range over a
// temporary view stays valid.
class XmlView::Children {
 public:
  class iterator {
   public:
    iterator(const XmlView* parent, const tinyxml2::XMLElement* e) : parent_(parent), e_(e) {}
    XmlView operator*() const { return parent_->view_of(e_); }
    iterator& operator++() {
      e_ = e_->NextSiblingElement();
      return *this;
    }
    bool operator!=(const iterator& o) const { return e_ != o.e_; }

   private:
    const XmlView* parent_;
    const tinyxml2::XMLElement* e_;
  };
  explicit Children(const XmlView& parent) : parent_(parent) {}
  iterator begin() const { return {&parent_, parent_.e_->FirstChildElement()}; }
  iterator end() const { return {&parent_, nullptr}; }

 private:
  XmlView parent_;
};

inline XmlView::Children XmlView::children() const {
  return Children(*this);
}

class ViewDocument {
 public:
  // The document, when soap::parse_xml(xml, limits) would accept it (the same checks, made
  // on the whole document); nullptr otherwise.
  static std::unique_ptr<ViewDocument> open(std::string_view xml, const soap::ParseLimits& limits);
  XmlView root();

 private:
  friend class XmlView;
  ViewDocument() : doc_(true, tinyxml2::PRESERVE_WHITESPACE) {}
  bool check(const tinyxml2::XMLElement& e, const NsScope* scope, int depth, int max_depth);
  // The scope of `e`: its own declarations before `outer`.
  const NsScope* scope_of(const tinyxml2::XMLElement& e, const NsScope* outer);

  tinyxml2::XMLDocument doc_;
  std::deque<NsScope> scopes_;  // stable addresses
};

}  // namespace crmsync::crm_soap
