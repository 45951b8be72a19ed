use super::*;
use crate::cli::Cli;
use clap::Parser;
use std::collections::BTreeMap;
use std::time::Duration;

fn args(argv: &[&str]) -> RunArgs {
    let mut full = vec!["ralph"];
    full.extend_from_slice(argv);
    Cli::try_parse_from(full).unwrap().run
}

fn resolve_with(
    argv: &[&str],
    env: &[(&str, &str)],
    yaml: Option<&str>,
) -> Result<RunSettings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(argv);
    if let Some(y) = yaml {
        let p = dir.path().join("ralph.yml");
        std::fs::write(&p, y).unwrap();
        a.config = Some(p);
    }
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    resolve(&a, &|k| env.get(k).cloned(), dir.path())
}

#[test]
fn defaults_match_the_spec() {
    let s = resolve_with(&[], &[], None).unwrap();
    assert_eq!(s.agent, "auto");
    assert_eq!(s.max_iterations, Some(100));
    assert_eq!(s.max_runtime, Some(Duration::from_secs(14_400)));
    assert_eq!(s.max_tokens, Some(1_000_000));
    assert_eq!(s.max_cost, Some(50.0));
    assert_eq!(s.checkpoint_interval, 5);
    assert_eq!(s.completion_promise, "LOOP_COMPLETE");
    assert_eq!(s.retry_delay, Duration::from_secs(2));
    assert_eq!(s.max_retries, 5);
    assert_eq!(s.metrics_port, 8080);
    assert_eq!(s.metrics_addr, "127.0.0.1");
    assert_eq!(s.log_level, "info");
    assert!(s.prompt_file.ends_with("PROMPT.md"));
}

#[test]
fn flag_beats_environment_beats_file() {
    let yaml = "max_iterations: 7\nmax_cost: 3\nretry_delay: 9\n";
    let s = resolve_with(
        &["--max-iterations", "5"],
        &[("RALPH_MAX_ITERATIONS", "6"), ("RALPH_MAX_COST", "4")],
        Some(yaml),
    )
    .unwrap();
    assert_eq!(s.max_iterations, Some(5));
    assert_eq!(s.max_cost, Some(4.0));
    assert_eq!(s.retry_delay, Duration::from_secs(9));
    assert_eq!(
        s.sources["max_iterations"],
        Source::Flag("--max-iterations")
    );
    assert_eq!(s.sources["max_cost"], Source::Env("RALPH_MAX_COST"));
}

#[test]
fn seed_style_flags_parse_without_the_run_word() {
    let s = resolve_with(
        &["--agent=auto", "--prompt=/prompts/PROMPT.md", "--verbose"],
        &[],
        None,
    )
    .unwrap();
    assert_eq!((s.agent.as_str(), s.verbose), ("auto", true));
    assert_eq!(s.prompt_file, PathBuf::from("/prompts/PROMPT.md"));
}

#[test]
fn invalid_environment_value_names_the_variable_and_range() {
    let err = resolve_with(&[], &[("RALPH_MAX_ITERATIONS", "abc")], None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("RALPH_MAX_ITERATIONS")
            && err.contains("`abc`")
            && err.contains("whole number"),
        "{err}"
    );
}

#[test]
fn negative_cost_is_rejected_naming_the_flag() {
    let err = resolve_with(&["--max-cost", "-1"], &[], None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--max-cost") && err.contains("USD >= 0"),
        "{err}"
    );
}

#[test]
fn invalid_file_value_names_file_and_line() {
    let err = resolve_with(&[], &[], Some("agent: claude\nmax_runtime: forever\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ralph.yml:2") && err.contains("max_runtime"),
        "{err}"
    );
}

#[test]
fn unknown_file_key_is_an_error_with_a_hint() {
    let err = resolve_with(&[], &[], Some("max_iteration: 3\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key `max_iteration`")
            && err.contains("did you mean `max_iterations`"),
        "{err}"
    );
}

#[test]
fn durations_accept_seconds_and_units() {
    let s = resolve_with(&["--max-runtime", "4h", "--retry-delay", "0.5"], &[], None).unwrap();
    assert_eq!(s.max_runtime, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(s.retry_delay, Duration::from_millis(500));
}

#[test]
fn zero_disables_limits() {
    let s = resolve_with(
        &[
            "--max-iterations",
            "0",
            "--max-cost",
            "0",
            "--iteration-timeout",
            "0",
        ],
        &[],
        None,
    )
    .unwrap();
    assert_eq!(
        (s.max_iterations, s.max_cost, s.iteration_timeout),
        (None, None, None)
    );
}

#[test]
fn log_level_accepts_any_case_from_log_level_variable() {
    let s = resolve_with(&[], &[("LOG_LEVEL", "DEBUG")], None).unwrap();
    assert_eq!(s.log_level, "debug");
    let err = resolve_with(&["--log-level", "loud"], &[], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--log-level"), "{err}");
}

#[test]
fn booleans_from_the_environment() {
    let s = resolve_with(
        &[],
        &[("RALPH_VERBOSE", "TRUE"), ("RALPH_DRY_RUN", "1")],
        None,
    )
    .unwrap();
    assert!(s.verbose && s.dry_run);
    let err = resolve_with(&[], &[("RALPH_NO_GIT", "maybe")], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("RALPH_NO_GIT"), "{err}");
}

#[test]
fn adapters_section_is_parsed_and_checked() {
    let yaml = "adapters:\n  claude:\n    model: claude-sonnet-4-5\n    args: [--max-turns, '5']\n    env: {FOO: bar}\n";
    let s = resolve_with(&[], &[], Some(yaml)).unwrap();
    assert_eq!(
        s.adapters["claude"].model.as_deref(),
        Some("claude-sonnet-4-5")
    );
    let err = resolve_with(&[], &[], Some("adapters:\n  claude:\n    modle: x\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("modle"), "{err}");
}

#[test]
fn agent_args_after_double_dash_are_kept() {
    let s = resolve_with(
        &["--agent", "claude", "--", "--model", "claude-sonnet-4-5"],
        &[],
        None,
    )
    .unwrap();
    assert_eq!(s.agent_args, vec!["--model", "claude-sonnet-4-5"]);
}

#[test]
fn every_flag_of_run_maps_to_a_known_setting() {
    // `setting(key)` panics for a key missing from SETTINGS: give every flag once.
    let s = resolve_with(
        &[
            "--no-git",
            "--checkpoint-ref",
            "--git-init",
            "--verbose",
            "--dry-run",
            "--fresh",
            "--no-preamble",
            "--metrics",
            "--metrics-port",
            "9000",
            "--metrics-addr",
            "0.0.0.0",
            "--log-format",
            "json",
            "--min-iterations",
            "2",
            "--checkpoint-interval",
            "3",
            "--completion-promise",
            "DONE",
            "--idle-timeout",
            "5",
            "--iteration-timeout",
            "6",
        ],
        &[],
        None,
    )
    .unwrap();
    assert!(s.no_git && s.checkpoint_ref && s.git_init && s.enable_metrics);
    assert_eq!(
        (s.metrics_port, s.min_iterations, s.checkpoint_interval),
        (9000, 2, 3)
    );
}

#[test]
fn an_adapter_error_names_the_adapter_and_its_line() {
    let yaml = "agent: claude\nadapters:\n  command:\n    command: x\n  claude:\n    args: \"--max-turns 4\"\n";
    let err = resolve_with(&[], &[], Some(yaml)).unwrap_err().to_string();
    assert!(err.contains("ralph.yml:5: `adapters.claude`"), "{err}");
}

#[test]
fn notify_urls_from_repeated_flags_a_variable_list_or_a_yaml_list() {
    let s = resolve_with(
        &[
            "--notify",
            "http://127.0.0.1:1/a",
            "--notify",
            "https://h.example/b",
        ],
        &[("RALPH_NOTIFY_URL", "http://env.example/ignored")],
        None,
    )
    .unwrap();
    assert_eq!(s.notify, ["http://127.0.0.1:1/a", "https://h.example/b"]);
    assert_eq!(s.sources["notify"], Source::Flag("--notify"));

    let s = resolve_with(
        &[],
        &[(
            "RALPH_NOTIFY_URL",
            " https://a.example/x,https://b.example/y \n http://c.example/z ,",
        )],
        Some("notify: https://file.example/ignored\n"),
    )
    .unwrap();
    assert_eq!(
        s.notify,
        [
            "https://a.example/x",
            "https://b.example/y",
            "http://c.example/z"
        ]
    );

    let s = resolve_with(
        &[],
        &[],
        Some("agent: command\nnotify:\n  - https://a.example/x\n  - http://b.example/y?k=v\n"),
    )
    .unwrap();
    assert_eq!(s.notify, ["https://a.example/x", "http://b.example/y?k=v"]);
    let s = resolve_with(&[], &[], Some("notify: https://one.example/\n")).unwrap();
    assert_eq!(s.notify, ["https://one.example/"]);

    // None by default, and an empty variable means none.
    assert!(resolve_with(&[], &[], None).unwrap().notify.is_empty());
    assert!(
        resolve_with(&[], &[("RALPH_NOTIFY_URL", "")], None)
            .unwrap()
            .notify
            .is_empty()
    );
}

#[test]
fn invalid_notify_urls_name_their_source_and_mask_credentials() {
    let e = resolve_with(&["--notify", "ftp://u:secretpw@h.example/x"], &[], None).unwrap_err();
    assert!(e.0.starts_with("--notify: "), "{e}");
    assert!(e.0.contains("http or https"), "{e}");
    assert!(!e.0.contains("secretpw"), "{e}");

    let e = resolve_with(
        &[],
        &[("RALPH_NOTIFY_URL", "http://ok.example/,nonsense")],
        None,
    )
    .unwrap_err();
    assert!(
        e.0.contains("RALPH_NOTIFY_URL") && e.0.contains("`nonsense`"),
        "{e}"
    );

    let e = resolve_with(&[], &[], Some("agent: command\nnotify:\n  - 42\n")).unwrap_err();
    assert!(
        e.0.contains("ralph.yml:2") && e.0.contains("list of URLs"),
        "{e}"
    );
    let e = resolve_with(&[], &[], Some("notify:\n  - mailto:a@b.example\n")).unwrap_err();
    assert!(e.0.contains("ralph.yml:1"), "{e}");
}

#[test]
fn a_notify_url_without_a_host_or_an_empty_one_is_refused() {
    let e = resolve_with(&["--notify", "http:///x"], &[], None).unwrap_err();
    assert!(e.to_string().contains("--notify"), "{e}");
    let e = resolve_with(&["--notify", ""], &[], None).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn rate_limit_wait_defaults_to_60_s_and_takes_flag_env_and_file() {
    assert_eq!(
        resolve_with(&[], &[], None).unwrap().rate_limit_wait,
        Duration::from_secs(60)
    );
    let s = resolve_with(&[], &[], Some("rate_limit_wait: 5m\n")).unwrap();
    assert_eq!(s.rate_limit_wait, Duration::from_secs(300));
    let s = resolve_with(
        &["--rate-limit-wait", "7"],
        &[("RALPH_RATE_LIMIT_WAIT", "9")],
        None,
    )
    .unwrap();
    assert_eq!(s.rate_limit_wait, Duration::from_secs(7));
    let err = resolve_with(&[], &[("RALPH_RATE_LIMIT_WAIT", "soon")], None).unwrap_err();
    assert!(err.0.contains("RALPH_RATE_LIMIT_WAIT"), "{err}");
}

#[test]
fn progress_policies_are_off_by_default_and_validated() {
    let s = resolve_with(&[], &[], None).unwrap();
    assert_eq!((s.stall_iterations, s.loop_detection), (0, 0));
    let s = resolve_with(
        &["--stall-iterations", "4"],
        &[("RALPH_LOOP_DETECTION", "3")],
        Some("stall_iterations: 9\nloop_detection: 7\n"),
    )
    .unwrap();
    assert_eq!((s.stall_iterations, s.loop_detection), (4, 3));
    let err = resolve_with(&[], &[], Some("loop_detection: 1\n")).unwrap_err();
    assert!(
        err.0.contains("loop_detection") && err.0.contains("from 2"),
        "{err}"
    );
    let err = resolve_with(&[], &[("RALPH_STALL_ITERATIONS", "-1")], None).unwrap_err();
    assert!(err.0.contains("RALPH_STALL_ITERATIONS"), "{err}");
}

#[test]
fn a_misspelled_ralph_variable_is_named_with_the_closest_setting() {
    let w = unknown_env_vars([
        "RALPH_MAX_ITERATION",
        "RALPH_MAX_ITERATIONS",
        "RALPH_AGENT_OF",
        "HOME",
    ]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("RALPH_MAX_ITERATION ") && w[0].contains("`RALPH_MAX_ITERATIONS`"),
        "{w:?}"
    );
}

#[test]
fn only_the_value_that_wins_is_validated() {
    // An invalid value that a higher layer overrides does no harm (a stray `RUST_LOG` and `--log-level`).
    let s = resolve_with(
        &["--log-level", "debug", "--max-cost", "3"],
        &[("RUST_LOG", "no such level"), ("RALPH_MAX_COST", "lots")],
        None,
    )
    .unwrap();
    assert_eq!((s.log_level.as_str(), s.max_cost), ("debug", Some(3.0)));
    // The value that wins is validated, naming its source.
    let err = resolve_with(&[], &[("RALPH_MAX_COST", "lots")], Some("max_cost: 2\n")).unwrap_err();
    assert!(err.0.contains("RALPH_MAX_COST"), "{err}");
}

#[test]
fn the_engine_and_the_command_line_share_their_defaults() {
    let s = resolve_with(&[], &[], None).unwrap();
    let engine = ralph_core::EngineConfig::new(
        ralph_core::prompt::PromptSource::Text(String::new()),
        s.workspace.clone(),
    );
    let limits = &engine.limits;
    assert_eq!(
        (s.max_iterations, s.max_runtime, s.max_tokens, s.max_cost),
        (
            limits.max_iterations,
            limits.max_runtime,
            limits.max_tokens,
            limits.max_cost_usd
        )
    );
    assert_eq!(s.max_retries, limits.max_retries);
    assert_eq!(
        (s.retry_delay, s.iteration_timeout, s.idle_timeout),
        (
            engine.retry_delay,
            engine.iteration_timeout,
            engine.idle_timeout
        )
    );
    assert_eq!(
        (s.checkpoint_interval, s.min_iterations),
        (engine.checkpoint_interval, engine.min_iterations)
    );
    assert_eq!(s.completion_promise, engine.completion_promise);
    assert_eq!(s.rate_limit_wait, engine.rate_limit_fallback_wait);
    assert_eq!(s.state_dir, engine.state_dir);
}

#[test]
fn each_flag_help_names_its_default_and_its_variables() {
    let cmd = <Cli as clap::CommandFactory>::command();
    for setting in SETTINGS {
        assert!(
            !setting.env.is_empty() && !setting.help.is_empty(),
            "{}",
            setting.key
        );
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == setting.key)
            .unwrap_or_else(|| panic!("no flag for {}", setting.key));
        assert_eq!(
            arg.get_long().map(|l| format!("--{l}")).as_deref(),
            Some(setting.flag)
        );
        assert_eq!(arg.get_short(), setting.short, "{}", setting.key);
        let help = arg.get_help().expect("help").to_string();
        for var in setting.env {
            assert!(help.contains(var), "{}: {help}", setting.key);
        }
        if let (Some(_), Some(shown)) = (setting.kind.value_name(), setting.default.shown()) {
            assert!(
                help.contains(&format!("[default: {shown}]")),
                "{}: {help}",
                setting.key
            );
        }
    }
    let agent = docs::flag_help(&SETTINGS[0]);
    for known in ralph_agents::KNOWN_AGENTS {
        assert!(agent.contains(known.name), "{agent}");
    }
}

#[test]
fn the_config_template_has_every_key_at_its_default() {
    let template = docs::config_template();
    let lines: Vec<&str> = template.lines().collect();
    for setting in SETTINGS {
        let line = match setting.default.value() {
            Some(value) => format!("{}: {value}", setting.key),
            None => format!("{}:", setting.key),
        };
        assert!(
            lines.contains(&line.as_str()),
            "{line} missing:\n{template}"
        );
    }
    for known in ralph_agents::KNOWN_AGENTS {
        assert!(template.contains(known.name), "{template}");
    }
}

/// Set `UPDATE_README=1` to write the table into README.md instead of comparing.
#[test]
fn the_readme_table_is_made_from_the_definitions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(docs::README_BEGIN).expect("begin marker") + docs::README_BEGIN.len();
    let end = readme.find(docs::README_END).expect("end marker");
    let table = docs::readme_table();
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        readme[start..end],
        table,
        "README.md's settings table is out of date; run this test with UPDATE_README=1"
    );
}
