#include "metrics/http_answer.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using modeld::metrics::answer_request;

namespace {
std::string page() { return "# HELP m h\n"; }
} // namespace

TEST_CASE("GET /metrics is the page in the text format's content type", "[http]") {
  auto a = answer_request("GET", "/metrics", page);
  CHECK(a.status == 200);
  CHECK(a.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(a.body == page());
  CHECK(answer_request("GET", "/metrics?name[]=x", page).status == 200);
}

TEST_CASE("another path is 404, another method 405 with Allow: GET", "[http]") {
  CHECK(answer_request("GET", "/", page).status == 404);
  CHECK(answer_request("GET", "/metrics/", page).status == 404);
  CHECK(answer_request("GET", "/other", page).status == 404);
  auto post = answer_request("POST", "/metrics", page);
  CHECK(post.status == 405);
  CHECK(post.allow == "GET");
  CHECK(answer_request("HEAD", "/metrics", page).status == 405);
}

TEST_CASE("a page that cannot be rendered is a 500", "[http]") {
  auto a = answer_request("GET", "/metrics", [] () -> std::string { throw std::runtime_error("boom"); });
  CHECK(a.status == 500);
  CHECK(a.body.find("boom") != std::string::npos);
}
