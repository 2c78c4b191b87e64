"""Stand-in for @bazel_skylib//lib:selects.bzl: the one macro Abseil's BUILD files use.

selects.config_setting_group(name, match_any = [...]) or (name, match_all = [...]) defines
`name` so that a select() key `:name` matches when any (all) of the config_settings match,
as skylib does it: a chain of aliases, each a select() over one setting.
"""

def _chain(name, settings, visibility, match_any):
    for i, setting in enumerate(settings):
        alias_name = name if i == 0 else "%s_%d" % (name, i)
        if i == len(settings) - 1:
            actual = setting
        elif match_any:
            # Matches if this setting does, else asks the rest.
            actual = select({
                setting: setting,
                "//conditions:default": ":%s_%d" % (name, i + 1),
            })
        else:
            # Asks the rest if this setting matches, else is this (unmatched) setting.
            actual = select({
                setting: ":%s_%d" % (name, i + 1),
                "//conditions:default": setting,
            })
        native.alias(name = alias_name, actual = actual, visibility = visibility)

def _config_setting_group(name, match_any = [], match_all = [], visibility = None):
    if (len(match_any) == 0) == (len(match_all) == 0):
        fail("config_setting_group %s: give exactly one of match_any and match_all" % name)
    settings = match_any or match_all
    _chain(name, settings, visibility, match_any = len(match_any) > 0)

selects = struct(config_setting_group = _config_setting_group)
