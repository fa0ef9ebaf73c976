// Meta-form encoders shared inside the text codec (not part of its public interface).
#pragma once

#include <string>

#include "codec/text_codec.h"
#include "proxy/message.h"

namespace mcmesh::codec {
namespace internal {

/**
 * Appends `request` as a meta command for memcached (needsMetaForm(request) must hold), without
 * a storage command's data block (see encodeRequestHead).
 */
void encodeMetaRequestHead(const Request& request, std::string* out, ReplyContext* context);

/** Appends the meta-form reply (HD/VA/EN/NS/EX/NF/ME/MN) a meta client gets for `request`. */
void encodeMetaResponse(const Request& request, const Response& response, std::string* out);

/** Appends ERROR / CLIENT_ERROR / SERVER_ERROR lines (shared by the text and meta encoders). */
bool appendErrorReply(const Response& response, std::string* out);

}  // namespace internal
}  // namespace mcmesh::codec
