//! The command-line layer: a clap argument per setting, made from its definition, read back into a
//! [`Layer`] whose values name their flag as their source.

use super::{Kind, Layer, Raw, SETTINGS, Setting, Source, docs};
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use std::path::PathBuf;

/// The clap argument of `setting`; its id is the setting's key.
fn arg(setting: &Setting) -> Arg {
    let long = setting.flag.trim_start_matches("--");
    let mut arg = Arg::new(setting.key)
        .long(long)
        .help(docs::flag_help(setting));
    if let Some(short) = setting.short {
        arg = arg.short(short);
    }
    if let Some(alias) = setting.alias {
        arg = arg.visible_alias(alias);
    }
    match setting.kind {
        Kind::Switch => arg.action(ArgAction::SetTrue),
        Kind::Value(name) => arg
            .value_name(name)
            .action(ArgAction::Set)
            .value_parser(value_parser!(String)),
        Kind::Path(name) => arg
            .value_name(name)
            .action(ArgAction::Set)
            .value_parser(value_parser!(PathBuf)),
        Kind::List(name) => arg
            .value_name(name)
            .action(ArgAction::Append)
            .value_parser(value_parser!(String)),
    }
}

/// The value given for `setting` in `matches`, as text; `None` when the flag was not given.
fn given(setting: &Setting, matches: &ArgMatches) -> Option<String> {
    let id = setting.key;
    match setting.kind {
        Kind::Switch => matches.get_flag(id).then(|| "true".to_string()),
        Kind::Value(_) => matches.get_one::<String>(id).cloned(),
        Kind::Path(_) => matches
            .get_one::<PathBuf>(id)
            .map(|p| p.display().to_string()),
        // Repeated flags become one list, one value per line (split again by the setting's parser).
        Kind::List(_) => matches
            .get_many::<String>(id)
            .map(|values| values.cloned().collect::<Vec<_>>().join("\n")),
    }
}

impl clap::Args for Layer {
    fn augment_args(cmd: Command) -> Command {
        SETTINGS.iter().fold(cmd, |cmd, s| cmd.arg(arg(s)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for Layer {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut layer = Layer::default();
        layer.update_from_arg_matches(matches)?;
        Ok(layer)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for setting in SETTINGS {
            if let Some(value) = given(setting, matches)
                && let Some(slot) = self.slot(setting.key)
            {
                *slot = Some(Raw {
                    value,
                    source: Source::Flag(setting.flag),
                });
            }
        }
        Ok(())
    }
}
