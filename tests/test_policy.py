"""Config layers, their authority, workspace resolution and the production verdict,
with real files in temp dirs (the system layer at the path a launcher would record)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from safeterraform import policy
from safeterraform.policy import Config, has_production_token
from tests import tfharness


class Layers:
    """A system file, a user config home and a repository, all under one temp dir."""

    def __init__(self, root: Path) -> None:
        self.system = root / "etc" / "config.toml"
        self.user = root / "home" / ".config" / "safeterraform" / "config.toml"
        self.repo = root / "repo"
        self.workdir = self.repo / "stacks" / "app"
        self.workdir.mkdir(parents=True)
        self.env = {
            "HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "home" / ".config"),
        }

    def write(self, path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def write_system(self, text: str) -> Path:
        return self.write(self.system, text)

    def write_user(self, text: str) -> Path:
        return self.write(self.user, text)

    def write_repo(self, text: str) -> Path:
        return self.write(self.repo / ".safeterraform.toml", text)

    def load(self) -> Config:
        return policy.load(self.env, str(self.workdir), str(self.system))

    def verdict(self, workspace: str, var_files: tuple[str, ...] = ()) -> policy.Verdict:
        config = self.load()
        assert config.error is None, config.error
        env = {**self.env, "TF_WORKSPACE": workspace}
        return policy.judge(config, env, str(self.workdir), var_files=var_files)


@pytest.fixture()
def layers(tmp_path: Path) -> Layers:
    # The built-in rule looks at every path component: the temp dir must not trip it.
    assert not any(has_production_token(part) for part in tmp_path.parts)
    return Layers(tmp_path)


# -- the built-in default ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "production"),
    [
        ("prod", True),
        ("production", True),
        ("prd", True),
        ("PROD", True),
        ("eu-prod", True),
        ("prod_eu", True),
        ("prod-eu-west-1", True),
        ("app.prod", True),
        ("default", False),
        ("product", False),
        ("prodigy", False),
        ("preprod", False),
        ("staging", False),
        ("dev-eu", False),
    ],
)
def test_builtin_workspace_tokens(layers: Layers, name: str, production: bool) -> None:
    verdict = layers.verdict(name)
    assert verdict.production is production
    if production:
        assert "built-in default" in verdict.reason and repr(name) in verdict.reason


@pytest.mark.parametrize(
    ("workdir", "production"),
    [
        ("/srv/infra/envs/prod", True),
        ("/srv/infra/prd/network", True),
        ("/srv/infra/eu-prod/network", True),
        ("/srv/infra/production", True),
        ("/srv/infra/product/network", False),
        ("/srv/infra/envs/staging", False),
        ("/srv/prod-like-name.d/x", True),
    ],
)
def test_builtin_path_components(layers: Layers, workdir: str, production: bool) -> None:
    verdict = policy.judge(layers.load(), {}, workdir)
    assert verdict.production is production
    if production:
        assert "component" in verdict.reason and "built-in default" in verdict.reason


def test_no_config_at_all_reads_no_file(layers: Layers) -> None:
    config = layers.load()
    assert config.error is None
    assert config.files == ()
    assert config.allow_break_glass
    assert config.always is None
    assert not layers.verdict("default").production


# -- layers and authority ----------------------------------------------------------------


def test_files_are_read_in_layer_order(layers: Layers) -> None:
    system = layers.write_system('[production]\nworkspaces = ["live"]\n')
    user = layers.write_user('[production]\nworkspaces = ["user-*"]\n')
    repo = layers.write_repo('[production]\nworkspaces = ["repo-*"]\n')
    config = layers.load()
    assert config.files == (("system", str(system)), ("user", str(user)), ("repository", str(repo)))
    assert [(p.glob, p.source) for p in config.workspaces] == [
        ("live", str(system)),
        ("user-*", str(user)),
        ("repo-*", str(repo)),
    ]


def test_nearest_repository_file_wins(layers: Layers) -> None:
    layers.write_repo('[production]\nworkspaces = ["outer"]\n')
    inner = layers.write(
        layers.workdir / ".safeterraform.toml", '[production]\nworkspaces = ["inner"]\n'
    )
    config = layers.load()
    assert config.files == (("repository", str(inner)),)
    assert [p.glob for p in config.workspaces if p.source == str(inner)] == ["inner"]


def test_user_and_repository_add_patterns(layers: Layers) -> None:
    layers.write_user('[production]\nworkspaces = ["live-*"]\n')
    layers.write_repo('[production]\nworkspaces = ["*-critical"]\n')
    assert layers.verdict("live-eu").production
    assert layers.verdict("db-critical").production
    assert layers.verdict("prod").production  # the built-in default still holds
    assert not layers.verdict("sandbox").production


def test_system_patterns_survive_empty_lists_later(layers: Layers) -> None:
    system = layers.write_system('[production]\nworkspaces = ["live"]\npaths = ["*/stacks/*"]\n')
    layers.write_user("[production]\nworkspaces = []\npaths = []\n")
    layers.write_repo("[production]\nworkspaces = []\npaths = []\nalways = false\n")
    verdict = layers.verdict("live")
    assert verdict.production and str(system) in verdict.reason
    # The path rule from the system file still matches the repository's directory.
    verdict = layers.verdict("sandbox")
    assert verdict.production and "*/stacks/*" in verdict.reason


def test_only_the_system_layer_replaces_the_builtin(layers: Layers) -> None:
    layers.write_user('[production]\nworkspaces = ["live"]\npaths = ["/nowhere/*"]\n')
    assert layers.verdict("prod").production
    layers.write_system('[production]\nworkspaces = ["live"]\n')
    assert not layers.verdict("prod").production
    assert layers.verdict("live").production


def test_always_cannot_be_turned_off_later(layers: Layers) -> None:
    system = layers.write_system("[production]\nalways = true\n")
    layers.write_user("[production]\nalways = false\n")
    layers.write_repo("[production]\nalways = false\n")
    verdict = layers.verdict("sandbox")
    assert verdict.production
    assert verdict.reason == f"always = true in {system}"


def test_always_can_be_turned_on_by_a_repository(layers: Layers) -> None:
    repo = layers.write_repo("[production]\nalways = true\n")
    verdict = layers.verdict("sandbox")
    assert verdict.production and str(repo) in verdict.reason


def test_break_glass_disabled_by_system_stays_disabled(layers: Layers) -> None:
    system = layers.write_system("[production]\nallow_break_glass = false\n")
    layers.write_user("[production]\nallow_break_glass = true\n")
    config = layers.load()
    assert not config.allow_break_glass
    assert config.break_glass_disabled_by == str(system)


def test_break_glass_disabled_by_the_user_layer(layers: Layers) -> None:
    layers.write_system("[production]\nallow_break_glass = true\n")
    user = layers.write_user("[production]\nallow_break_glass = false\n")
    config = layers.load()
    assert not config.allow_break_glass
    assert config.break_glass_disabled_by == str(user)


def test_break_glass_disabled_by_both_names_system(layers: Layers) -> None:
    system = layers.write_system("[production]\nallow_break_glass = false\n")
    layers.write_user("[production]\nallow_break_glass = false\n")
    assert layers.load().break_glass_disabled_by == str(system)


def test_user_layer_defaults_to_home_dot_config(layers: Layers) -> None:
    env = {k: v for k, v in layers.env.items() if k != "XDG_CONFIG_HOME"}
    user = layers.write_user("[production]\nalways = true\n")
    config = policy.load(env, str(layers.workdir))
    assert ("user", str(user)) in config.files
    assert config.always == str(user)


# -- paths and var files -----------------------------------------------------------------


def test_path_globs_match_the_absolute_workdir(layers: Layers) -> None:
    repo = layers.write_repo('[production]\npaths = ["*/stacks/app"]\n')
    verdict = layers.verdict("sandbox")
    assert verdict.production
    assert verdict.reason == (
        f"working directory {layers.workdir} matches '*/stacks/app' in {repo}"
    )
    other = policy.judge(layers.load(), {"TF_WORKSPACE": "sandbox"}, str(layers.repo))
    assert not other.production


def test_relative_workdir_is_made_absolute(layers: Layers, monkeypatch: pytest.MonkeyPatch) -> None:
    layers.write_repo('[production]\npaths = ["*/stacks/app"]\n')
    monkeypatch.chdir(layers.repo)
    config = policy.load(layers.env, "stacks/app")
    assert config.files and config.files[0][0] == "repository"
    assert policy.judge(config, {"TF_WORKSPACE": "sandbox"}, "stacks/app").production


@pytest.mark.parametrize(
    ("var_file", "production"),
    [
        ("envs/eu-live.tfvars", True),
        ("/abs/path/live.tfvars", True),
        ("blue.auto.tfvars", True),
        ("staging.tfvars", False),
        ("live/staging.tfvars", False),  # only the basename counts for a glob
    ],
)
def test_var_file_globs_on_basenames(layers: Layers, var_file: str, production: bool) -> None:
    """Configured globs (the built-in token rule is tested in test_state_location.py)."""
    repo = layers.write_repo('[production]\nvar_files = ["*live*.tfvars", "blue.*"]\n')
    verdict = layers.verdict("sandbox", (var_file,))
    assert verdict.production is production
    if production:
        assert str(repo) in verdict.reason and os.path.basename(var_file) in verdict.reason


# -- workspace resolution ----------------------------------------------------------------


def test_workspace_default_without_data_dir(tmp_path: Path) -> None:
    workspace, source = policy.current_workspace({}, str(tmp_path))
    assert workspace == "default"
    assert "default" in source


def test_workspace_from_environment_file(tmp_path: Path) -> None:
    environment = tmp_path / ".terraform" / "environment"
    environment.parent.mkdir()
    environment.write_text("  live-eu\n")
    assert policy.current_workspace({}, str(tmp_path)) == ("live-eu", str(environment))


def test_empty_environment_file_is_default(tmp_path: Path) -> None:
    environment = tmp_path / ".terraform" / "environment"
    environment.parent.mkdir()
    environment.write_text("\n")
    assert policy.current_workspace({}, str(tmp_path))[0] == "default"


def test_tf_workspace_wins_over_the_file(tmp_path: Path) -> None:
    environment = tmp_path / ".terraform" / "environment"
    environment.parent.mkdir()
    environment.write_text("sandbox")
    assert policy.current_workspace({"TF_WORKSPACE": "live"}, str(tmp_path)) == (
        "live",
        "TF_WORKSPACE",
    )
    assert policy.current_workspace({"TF_WORKSPACE": ""}, str(tmp_path))[0] == "sandbox"


def test_tf_data_dir_is_relative_to_the_workdir(tmp_path: Path) -> None:
    workdir = tmp_path / "stack"
    (workdir / "state-data").mkdir(parents=True)
    (workdir / "state-data" / "environment").write_text("live")
    (workdir / ".terraform").mkdir()
    (workdir / ".terraform" / "environment").write_text("sandbox")
    env = {"TF_DATA_DIR": "state-data"}
    assert policy.current_workspace(env, str(workdir))[0] == "live"
    assert policy.current_workspace({}, str(workdir))[0] == "sandbox"


def test_absolute_tf_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    data.mkdir()
    (data / "environment").write_text("live")
    assert policy.current_workspace({"TF_DATA_DIR": str(data)}, str(tmp_path / "x"))[0] == "live"


def test_workspace_matches_real_terraform_after_chdir(
    terraform_bin: Path, env: dict[str, str], workdir: Path
) -> None:
    """`terraform -chdir=stack workspace new blue` then `workspace show`: the same name."""
    stack = workdir / "stack"
    stack.mkdir()
    (stack / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    for args in (["-chdir=stack", "init"], ["-chdir=stack", "workspace", "new", "blue"]):
        assert tfharness.run(terraform_bin, args, workdir, env).returncode == 0
    shown = tfharness.run(terraform_bin, ["-chdir=stack", "workspace", "show"], workdir, env)
    assert policy.current_workspace(env, str(stack))[0] == shown.stdout.strip() == "blue"
    data_env = {**env, "TF_DATA_DIR": "other-data"}
    for args in (
        ["-chdir=stack", "init"],
        ["-chdir=stack", "workspace", "select", "-or-create", "green"],
    ):
        assert tfharness.run(terraform_bin, args, workdir, data_env).returncode == 0
    shown = tfharness.run(terraform_bin, ["-chdir=stack", "workspace", "show"], workdir, data_env)
    assert policy.current_workspace(data_env, str(stack))[0] == shown.stdout.strip() == "green"
    assert (stack / "other-data" / "environment").is_file()


# -- broken files ------------------------------------------------------------------------


def test_malformed_toml_names_file_and_line(layers: Layers) -> None:
    user = layers.write_user('[production]\nworkspaces = ["live"]\nalways = tru\n')
    config = layers.load()
    assert config.error is not None
    assert str(user) in config.error and "line 3" in config.error
    assert "\n" not in config.error


def test_a_broken_layer_fails_the_whole_config(layers: Layers) -> None:
    layers.write_system("[production]\nalways = true\n")
    layers.write_repo("[production\n")
    config = layers.load()
    assert config.error is not None and ".safeterraform.toml" in config.error
    assert config.files == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[production]\nworkspaces = "live"\n', "`workspaces` must be a list of strings"),
        ("[production]\npaths = [1]\n", "`paths` must be a list of strings"),
        (
            '[production]\nalways = "yes"\n',
            "`always` must be a boolean (true or false), not a string",
        ),
        (
            "[production]\nallow_break_glass = 0\n",
            "`allow_break_glass` must be a boolean (true or false), not an integer",
        ),
        ("production = 1\n", "[production] must be a table"),
        (
            "[limits]\nmax_affected_nodes = true\n",
            "`max_affected_nodes` must be an integer, not a boolean",
        ),
        (
            '[limits]\nmax_affected_nodes = "one"\n',
            "`max_affected_nodes` must be an integer, not a string",
        ),
        (
            '[limits]\nmax_affected_fraction = "half"\n',
            "`max_affected_fraction` must be an integer or a float, not a string",
        ),
        ("audit_log = 1979-05-27\n", "`audit_log` must be a string, not a date or time"),
        ("state_backups = 3\n", "[state_backups] must be a table"),
    ],
)
def test_wrong_types_are_errors(layers: Layers, text: str, message: str) -> None:
    path = layers.write_user(text)
    config = layers.load()
    assert config.error is not None
    assert str(path) in config.error and message in config.error


def test_unreadable_system_file_is_an_error(layers: Layers) -> None:
    layers.system.mkdir(parents=True)  # a directory where the file should be
    config = layers.load()
    assert config.error is not None and str(layers.system) in config.error


def test_error_at_end_of_file_still_names_a_line(layers: Layers) -> None:
    repo = layers.write_repo('[production]\nworkspaces = ["live"\n')
    config = layers.load()
    assert config.error is not None
    assert str(repo) in config.error and "line 3" in config.error


def test_file_that_is_not_utf8(layers: Layers) -> None:
    layers.system.parent.mkdir(parents=True)
    layers.system.write_bytes(b"[production]\n# caf\xe9\nalways = true\n")
    config = layers.load()
    assert config.error is not None
    assert str(layers.system) in config.error and "line 2" in config.error


def test_agent_env_layers_add_names_and_never_remove_the_defaults(tmp_path: Path) -> None:
    """Mutation: a layer's `agent_env` replacing the list (instead of adding to it) drops
    CLAUDECODE, and Claude Code's commands are no longer recognised as an agent's."""
    layers = Layers(tmp_path)
    layers.write_system('[confirm]\nagent_env = ["TEAM_AGENT"]\n')
    layers.write_user("[confirm]\nagent_env = []\n")
    config = policy.load(layers.env, str(layers.workdir), str(layers.system))
    assert config.error is None
    assert config.agent_env[: len(policy.DEFAULT_AGENT_ENV)] == policy.DEFAULT_AGENT_ENV
    assert "TEAM_AGENT" in config.agent_env
    assert policy.agent_markers(config, {"CLAUDECODE": "1", "TEAM_AGENT": ""}) == ["CLAUDECODE"]
    assert policy.agent_markers(config, {"TEAM_AGENT": "yes"}) == ["TEAM_AGENT"]
    assert policy.agent_markers(config, {"CLAUDECODE": " "}) == []


# -- merge rules (policy.KEYS) -----------------------------------------------------------

STRICTEST_KEYS = [
    # (table, key, strict TOML value, loose TOML value, Config attribute, strict as loaded,
    #  the two layers that set them: a repository may set limits and max_age, not the TTL)
    ("confirm", "approval_ttl", "600", "7200", "approval_ttl", 600, ("system", "user")),
    ("promotion", "max_age", '"1d"', '"30d"', "promotion_max_age", 86400, ("user", "repo")),
    ("limits", "max_affected_nodes", "1", "5", "max_affected_nodes", 1, ("user", "repo")),
    (
        "limits",
        "max_affected_fraction",
        "0.25",
        "0.5",
        "max_affected_fraction",
        0.25,
        ("user", "repo"),
    ),
]


@pytest.mark.parametrize("strict_first", [True, False], ids=["strict-first", "loose-later-first"])
@pytest.mark.parametrize(
    ("table", "key", "strict", "loose", "attribute", "expected", "pair"),
    STRICTEST_KEYS,
    ids=[row[1] for row in STRICTEST_KEYS],
)
def test_a_later_layer_never_lengthens_a_ttl_or_raises_a_limit(
    layers: Layers,
    table: str,
    key: str,
    strict: str,
    loose: str,
    attribute: str,
    expected: float,
    pair: tuple[str, str],
    strict_first: bool,
) -> None:
    """The strictest value wins whichever layer wrote it.
    Mutations: STRICTEST merged with max (`[promotion] max_age` lengthened by a later
    layer), or as "last layer wins", or as "first layer wins"."""
    writers = {"system": layers.write_system, "user": layers.write_user, "repo": layers.write_repo}
    first, later = (strict, loose) if strict_first else (loose, strict)
    writers[pair[0]](f"[{table}]\n{key} = {first}\n")
    writers[pair[1]](f"[{table}]\n{key} = {later}\n")
    config = layers.load()
    assert config.error is None, config.error
    assert getattr(config, attribute) == expected


@pytest.mark.parametrize("keep", ["0", "-1"])
def test_state_backups_keep_below_one_is_a_config_error(layers: Layers, keep: str) -> None:
    """`keep = -1` pruned every snapshot, the new one included; `keep = 0` became 10.
    Mutation: drop the row's minimum (keep = -1 loads)."""
    user = layers.write_user(f"[state_backups]\nkeep = {keep}\n")
    config = layers.load()
    assert config.error is not None
    assert str(user) in config.error and "`[state_backups] keep` must be >= 1" in config.error
    verdict = policy.judge(config, layers.env, str(layers.workdir))
    assert verdict.production  # guarded commands are refused (fail closed)


def test_state_backups_keep_one_is_kept(layers: Layers) -> None:
    layers.write_system("[state_backups]\nkeep = 5\n")
    layers.write_user("[state_backups]\nkeep = 1\n")
    assert layers.load().state_backups_keep == 1


SAMPLE_VALUES = {
    "bool": "false",
    "int": "5",
    "number": "0.5",
    "str": '"x"',
    "file str": '"/bin/true"',
    "strings": '["x"]',
    "patterns": '["x"]',
    "sourced": '["x"]',
    "duration": '"1d"',
}
NOT_FOR_REPOSITORIES = [key for key in policy.KEYS if "repository" not in key.layers]


@pytest.mark.parametrize(
    "row", NOT_FOR_REPOSITORIES, ids=[f"{k.table}.{k.key}" for k in NOT_FOR_REPOSITORIES]
)
def test_a_repository_file_cannot_set_a_trusted_key(layers: Layers, row: policy.Key) -> None:
    """Every row that leaves repositories out refuses them, naming file and key.
    Mutation: the layer check skipped for keys inside tables (only top-level refused)."""
    line = f"{row.key} = {SAMPLE_VALUES[row.kind]}\n"
    repo = layers.write_repo(line if not row.table else f"[{row.table}]\n{line}")
    config = layers.load()
    assert config.error is not None
    shown = row.key if not row.table else f"[{row.table}] {row.key}"
    assert str(repo) in config.error
    assert f"`{shown}` cannot be set in a repository file" in config.error or (
        f"`{row.table}` cannot be set in a repository file" in config.error
    )


# -- survivors of issue 28's mutation run (docs/testing.md) ------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("EUProd", ["EU", "Prod"]),
        ("USPrd", ["US", "Prd"]),
        ("PRODEu", ["PROD", "Eu"]),
        ("euProd", ["eu", "Prod"]),
        ("ABCProduction", ["ABC", "Production"]),
        ("PROD", ["PROD"]),
    ],
)
def test_an_acronym_ends_before_the_capital_that_starts_a_word(
    layers: Layers, name: str, words: list[str]
) -> None:
    """Mutation: the acronym look-ahead off by one (`name[index : index + 1]` or
    `name[index + 2 : index + 3]` instead of the next character) glues `EUProd`, `USPrd`
    and `PRODEu` into one word, and those workspaces stop being production."""
    assert policy.tokens(name) == words
    assert layers.verdict(name).production


ALL_AGENT_VARIABLES = (
    "CLAUDECODE",
    "GEMINI_CLI",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "CLINE_ACTIVE",
    "OPENCODE",
)


def test_the_builtin_agent_variables_are_exactly_these() -> None:
    """docs/agents.md's list, written out here (not compared with itself).

    Mutation: OPENCODE (or any other) dropped from DEFAULT_AGENT_ENV -> this fails."""
    assert set(policy.DEFAULT_AGENT_ENV) == set(ALL_AGENT_VARIABLES)


@pytest.mark.parametrize("name", ALL_AGENT_VARIABLES)
def test_each_builtin_agent_variable_marks_a_coding_agent_without_any_config(
    layers: Layers, name: str
) -> None:
    """Mutation: OPENCODE dropped from the built-in agent variables -> its row fails."""
    config = layers.load()
    assert config.error is None and config.files == ()
    assert policy.agent_markers(config, {name: "1"}) == [name]


@pytest.mark.parametrize(
    ("system", "user", "repo", "seconds"),
    [
        ("1d", "30d", "2w", 86400),  # later layers may not lengthen it
        ("2w", "30d", "12h", 12 * 3600),  # any layer may shorten it
        (None, "3d", "2w", 3 * 86400),
        ("1h", None, None, 3600),
    ],
)
def test_promotion_max_age_is_the_shortest_any_layer_sets(
    layers: Layers, system: str | None, user: str | None, repo: str | None, seconds: int
) -> None:
    """Mutation: `[promotion] max_age` merged with max() (or the last layer winning) -> a
    repository file lengthens the system's limit and a stale staging apply counts."""
    for write, value in ((layers.write_system, system), (layers.write_user, user)):
        if value is not None:
            write(f'[promotion]\nmax_age = "{value}"\n')
    if repo is not None:
        layers.write_repo(f'[promotion]\nmax_age = "{repo}"\n')
    config = layers.load()
    assert config.error is None, config.error
    assert config.promotion_max_age == seconds


def test_state_backups_keep_is_the_last_layer_that_sets_it(layers: Layers) -> None:
    layers.write_system("[state_backups]\nkeep = 3\n")
    assert layers.load().state_backups_keep == 3
    layers.write_user("[state_backups]\nkeep = 1\n")
    assert layers.load().state_backups_keep == 1
