#include "catalog/case_fold.hpp"

#include <catch2/catch.hpp>

using modeld::catalog::fold_case;
using modeld::catalog::has_tag;

TEST_CASE("fold_case folds ASCII, Latin, Greek and Cyrillic letters", "[case_fold]") {
  CHECK(fold_case("DeviceOperations") == "deviceoperations");
  CHECK(fold_case("ÀÉÎÕÜ Ñ Ç Ø Þ") == "àéîõü ñ ç ø þ");   // Latin-1
  CHECK(fold_case("ŁÓDŹ ŠKODA ŒUVRE") == "łódź škoda œuvre"); // Latin Extended-A
  CHECK(fold_case("ǅ Ǆ Ƞ") == "ǆ ǆ ƞ");                    // Latin Extended-B
  CHECK(fold_case("ẞ Ạ Ỹ") == "ß ạ ỹ");                    // Latin Extended Additional
  CHECK(fold_case("ΣΟΦΊΑ σοφός ΌΡΟΣ") == "σοφία σοφόσ όροσ"); // final sigma folds to σ
  CHECK(fold_case("Ἀθῆναι") == "ἀθῆναι");                  // Greek Extended
  CHECK(fold_case("МОСКВА Ёлка ЇЖАК") == "москва ёлка їжак");
  CHECK(fold_case("µ") == "μ"); // the micro sign is Greek mu
}

TEST_CASE("fold_case keeps what it does not fold", "[case_fold]") {
  CHECK(fold_case("") == "");
  CHECK(fold_case("sd 1.5 / lora_v2") == "sd 1.5 / lora_v2");
  CHECK(fold_case("ß") == "ß");         // full folding would give "ss"; simple folding keeps it
  CHECK(fold_case("İ") == "İ");         // no simple folding (Turkic dotted capital I)
  CHECK(fold_case("日本語 ✓") == "日本語 ✓");
  CHECK(fold_case("A\xff\xc3") == "a\xff\xc3"); // not UTF-8: kept byte for byte
  CHECK(fold_case("\xc0\x80") == "\xc0\x80");   // an overlong form is not UTF-8 either
}

TEST_CASE("has_tag matches tags in any case", "[case_fold]") {
  const std::vector<std::string> tags{"DeviceOperations", "Ελληνικά", "anime"};
  CHECK(has_tag(tags, "deviceoperations"));
  CHECK(has_tag(tags, "DEVICEOPERATIONS"));
  CHECK(has_tag(tags, "ΕΛΛΗΝΙΚΆ"));
  CHECK(has_tag(tags, "Anime")); // a tag stored lower-case, as before tags kept their case
  CHECK_FALSE(has_tag(tags, "device operations"));
  CHECK_FALSE(has_tag({}, "anime"));
}
