#include "services/cli/config_file.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace youma::cli {
namespace {

// The settings a file may hold: the long names of the configurable options.
std::vector<std::string> SettingNames(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : command.get_options()) {
    if (opt->get_configurable() && !opt->get_lnames().empty()) names.push_back(opt->get_lnames().front());
  }
  return names;
}

}  // namespace

absl::Status ApplyConfigFile(CLI::App& command, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, " does not exist (or is not a file)"));
  }
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("config file ", path, " cannot be read"));
  const CLI::ConfigTOML format;
  std::vector<CLI::ConfigItem> items;
  try {
    items = format.from_config(in);
  } catch (const CLI::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  for (const CLI::ConfigItem& item : items) {
    if (!item.parents.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": [", item.parents.front(), "]: settings go at the top level, without sections"));
    }
    CLI::Option* opt = command.get_option_no_throw("--" + item.name);
    if (opt == nullptr || !opt->get_configurable()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": '", item.name, "' is not a setting of `youma ",
                                                     command.get_name(), "`; the settings are: ",
                                                     absl::StrJoin(SettingNames(command), ", ")));
    }
    if (opt->count() > 0) continue;  // given on the command line: the flag wins
    try {
      if (opt->get_expected_min() == 0) {
        opt->add_result(opt->get_flag_value(item.name, format.to_flag(item)));
      } else {
        opt->add_result(item.inputs);
      }
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": '", item.name, "': ", e.what()));
    }
  }
  return absl::OkStatus();
}

std::string ConfigFileText(const CLI::App& command) {
  std::string out = absl::StrCat("# youma ", command.get_name(), " settings: youma ", command.get_name(),
                                 " --config FILE (or $YOUMA_CONFIG); a flag on the command line wins.\n");
  for (const CLI::Option* opt : command.get_options()) {
    if (!opt->get_configurable() || opt->get_lnames().empty()) continue;
    out += "\n";
    // The description, as comment lines of at most about 90 characters.
    std::string line = "#";
    for (absl::string_view word : absl::StrSplit(opt->get_description(), ' ', absl::SkipEmpty())) {
      if (line.size() + 1 + word.size() > 90) {
        absl::StrAppend(&out, line, "\n");
        line = "#";
      }
      absl::StrAppend(&line, " ", word);
    }
    absl::StrAppend(&out, line, "\n");
    const std::string& name = opt->get_lnames().front();
    if (opt->get_expected_min() == 0) {
      absl::StrAppend(&out, name, " = ", opt->count() > 0 && opt->as<bool>() ? "true" : "false", "\n");
    } else if (opt->count() > 0) {
      absl::StrAppend(&out, name, " = ", CLI::detail::ini_join(opt->results()), "\n");
    } else if (!opt->get_default_str().empty()) {
      absl::StrAppend(&out, name, " = ", CLI::detail::convert_arg_for_ini(opt->get_default_str()), "\n");
    } else {
      absl::StrAppend(&out, "# ", name, " = \"\"\n");  // not set
    }
  }
  return out;
}

}  // namespace youma::cli
