// SPEC U2: finding CRM records by name, for the user to pick what an item is regarding. The
// query and the reading of its answer; adapter.cpp sends it.
#pragma once

#include <string>
#include <vector>

#include "codec.hpp"
#include "crmsync/model/value.hpp"

namespace crmsync::crm_soap {

// RetrieveMultiple of `entity`'s records whose primary name has `text` in it (Like '%text%',
// case-insensitive as CRM compares), by name, at most `max` (1 to 50). The LIKE wildcards
// % _ [ in `text` match any one character. kInvalid for an entity whose primary name this
// adapter does not know, or text that is empty, not XML-safe or over 200 bytes.
Result<Query> name_search_query(const std::string& entity, const std::string& text,
                                std::size_t max);

// The records of its answer, each with its name.
Result<std::vector<EntityRef>> read_name_search(const soap::Element& body,
                                                const std::string& entity);

}  // namespace crmsync::crm_soap
