//! The public API of a library crate, read from its sources with `syn`: one line per public item, sorted,
//! so that a snapshot of it (`tests/public_api.rs`) shows every change to the API in review.
//!
//! What it lists, for each crate:
//! - every public path of every public item (`ralph_core::engine::Engine` and its re-export
//!   `ralph_core::Engine`): the items of `pub mod`s reachable from the crate root and the targets of `pub
//!   use` (followed through re-exports and globs; a re-export of another crate's item is listed as such);
//! - under the shortest path of each item: its signature (functions with their qualifiers and generics,
//!   struct fields that are `pub`, whether other fields are private, every enum variant with its fields,
//!   every trait item and whether it has a default), its `#[derive]`s, `#[non_exhaustive]`,
//!   `#[async_trait]`, `#[must_use]` and `#[deprecated]`;
//! - the `pub` methods and constants of inherent impls and every trait impl of a public type, wherever
//!   the impl is written.
//!
//! Not seen: auto traits (`Send`, `Sync`, `Unpin`: a compile-time test checks those that matter) and what
//! macros expand to other than derives. Items under `#[cfg(test)]`, `#[cfg(doctest)]` or
//! `#[doc(hidden)]` are not API.

use proc_macro2::TokenStream;
use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module of the crate being read: its path from the crate root (empty for the root), its items and
/// whether it is reachable through `pub mod`s.
struct Module {
    path: Vec<String>,
    items: Vec<syn::Item>,
    public: bool,
}

/// Where a name was found when resolving a path.
enum Target {
    /// An item of a module of this crate: (module index, item index).
    Item(usize, usize),
    /// A module of this crate.
    Module(usize),
    /// An item of another crate (the path as written).
    External(String),
}

/// The public API of the library whose root is `lib_rs` and whose crate name is `krate`, one line per
/// item or member, sorted.
///
/// # Panics
/// When a source file of the crate cannot be read or parsed (the crate would not build either).
pub fn public_api(krate: &str, lib_rs: &Path) -> String {
    let mut modules = Vec::new();
    load(lib_rs, true, Vec::new(), true, &mut modules);
    let api = Api {
        krate: krate.to_string(),
        modules,
    };
    let mut lines = BTreeSet::new();
    // Every public path of each item, keyed by (module, item).
    let mut paths: BTreeMap<(usize, usize), BTreeSet<String>> = BTreeMap::new();
    for (m, module) in api.modules.iter().enumerate() {
        if !module.public {
            continue;
        }
        let prefix = api.display(&module.path);
        for (i, item) in module.items.iter().enumerate() {
            if is_pub(item)
                && !matches!(item, syn::Item::Use(_) | syn::Item::Mod(_))
                && let Some(name) = item_name(item)
            {
                paths
                    .entry((m, i))
                    .or_default()
                    .insert(format!("{prefix}::{name}"));
            }
            if let syn::Item::Mod(md) = item
                && is_pub(item)
            {
                lines.insert(format!("{prefix}::{}: pub mod", md.ident));
            }
            if let syn::Item::Use(u) = item
                && is_pub(item)
            {
                for (name, target) in api.use_leaves(m, &u.tree) {
                    match target {
                        Some(Target::Item(tm, ti)) => {
                            paths
                                .entry((tm, ti))
                                .or_default()
                                .insert(format!("{prefix}::{name}"));
                        }
                        Some(Target::External(p)) => {
                            lines.insert(format!("{prefix}::{name}: pub use {p}"));
                        }
                        Some(Target::Module(tm)) => {
                            lines.insert(format!(
                                "{prefix}::{name}: pub use {}",
                                api.display(&api.modules[tm].path)
                            ));
                        }
                        None => {
                            lines.insert(format!("{prefix}::{name}: pub use (unresolved)"));
                        }
                    }
                }
                for source in api.use_globs(m, &u.tree) {
                    for (i, item) in api.modules[source].items.iter().enumerate() {
                        if is_pub(item)
                            && let Some(name) = item_name(item)
                            && !matches!(item, syn::Item::Use(_))
                        {
                            paths
                                .entry((source, i))
                                .or_default()
                                .insert(format!("{prefix}::{name}"));
                        }
                    }
                }
            }
        }
    }
    // The types by name, for the impls (written anywhere in the crate).
    let mut canonical_of: BTreeMap<String, String> = BTreeMap::new();
    for (&(m, i), all) in &paths {
        let item = &api.modules[m].items[i];
        let canonical = all
            .iter()
            .min_by_key(|p| (p.len(), (*p).clone()))
            .expect("at least one path")
            .clone();
        for p in all {
            lines.insert(format!("{p}: {}", header(item)));
        }
        for member in members(item) {
            lines.insert(format!("{canonical}{member}"));
        }
        if let Some(name) = item_name(item) {
            canonical_of.entry(name).or_insert(canonical);
        }
    }
    for module in &api.modules {
        for item in &module.items {
            let syn::Item::Impl(imp) = item else { continue };
            let Some(name) = type_name(&imp.self_ty) else {
                continue;
            };
            let Some(canonical) = canonical_of.get(&name) else {
                continue;
            };
            if let Some((_, trait_path, _)) = &imp.trait_ {
                let generics = &imp.generics;
                let wh = &imp.generics.where_clause;
                let self_ty = &imp.self_ty;
                let neg = if imp.trait_.as_ref().is_some_and(|t| t.0.is_some()) {
                    "!"
                } else {
                    ""
                };
                lines.insert(format!(
                    "{canonical}: impl{} {neg}{} for {}{}",
                    tidy(generics.to_token_stream()),
                    tidy(trait_path.to_token_stream()),
                    tidy(self_ty.to_token_stream()),
                    wh.as_ref()
                        .map(|w| format!(" {}", tidy(w.to_token_stream())))
                        .unwrap_or_default()
                ));
                continue;
            }
            for member in &imp.items {
                match member {
                    syn::ImplItem::Fn(f) if is_pub_vis(&f.vis) && !hidden(&f.attrs) => {
                        lines.insert(format!(
                            "{canonical}::{}: {}pub {}",
                            f.sig.ident,
                            attrs_of(&f.attrs),
                            tidy(f.sig.to_token_stream())
                        ));
                    }
                    syn::ImplItem::Const(c) if is_pub_vis(&c.vis) && !hidden(&c.attrs) => {
                        lines.insert(format!(
                            "{canonical}::{}: pub const {}: {}",
                            c.ident,
                            c.ident,
                            tidy(c.ty.to_token_stream())
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The modules read so far.
struct Api {
    krate: String,
    modules: Vec<Module>,
}

impl Api {
    /// `ralph_core::engine` for the path `["engine"]`.
    fn display(&self, path: &[String]) -> String {
        std::iter::once(self.krate.as_str())
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("::")
    }

    /// The module at `path`, if the crate has one.
    fn module(&self, path: &[String]) -> Option<usize> {
        self.modules.iter().position(|m| m.path == path)
    }

    /// The leaves of a `use` tree in module `m` other than globs: (the name it binds, what it names).
    fn use_leaves(&self, m: usize, tree: &syn::UseTree) -> Vec<(String, Option<Target>)> {
        let mut out = Vec::new();
        self.walk_use(m, tree, Vec::new(), &mut out, &mut Vec::new());
        out
    }

    /// The modules of this crate that a `use` tree in module `m` glob-imports.
    fn use_globs(&self, m: usize, tree: &syn::UseTree) -> Vec<usize> {
        let mut globs = Vec::new();
        self.walk_use(m, tree, Vec::new(), &mut Vec::new(), &mut globs);
        globs
            .into_iter()
            .filter_map(|prefix| match self.resolve(m, &prefix, 0) {
                Some(Target::Module(tm)) => Some(tm),
                _ => None,
            })
            .collect()
    }

    fn walk_use(
        &self,
        m: usize,
        tree: &syn::UseTree,
        mut prefix: Vec<String>,
        leaves: &mut Vec<(String, Option<Target>)>,
        globs: &mut Vec<Vec<String>>,
    ) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.walk_use(m, &p.tree, prefix, leaves, globs);
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                if name == "self" {
                    let bound = prefix.last().cloned().unwrap_or_default();
                    leaves.push((bound, self.resolve(m, &prefix, 0)));
                } else {
                    prefix.push(name.clone());
                    leaves.push((name, self.resolve(m, &prefix, 0)));
                }
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                leaves.push((r.rename.to_string(), self.resolve(m, &prefix, 0)));
            }
            syn::UseTree::Glob(_) => globs.push(prefix),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.walk_use(m, t, prefix.clone(), leaves, globs);
                }
            }
        }
    }

    /// What `path`, written in module `m`, names (following re-exports, at most 16 deep).
    fn resolve(&self, m: usize, path: &[String], depth: usize) -> Option<Target> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let here = &self.modules[m].path;
        let (mut module, rest): (Vec<String>, &[String]) = match path[0].as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (here.clone(), &path[1..]),
            "super" => (here[..here.len().saturating_sub(1)].to_vec(), &path[1..]),
            first => {
                let declared = self.modules[m]
                    .items
                    .iter()
                    .any(|i| item_name(i).as_deref() == Some(first));
                if !declared {
                    return Some(Target::External(path.join("::")));
                }
                (here.clone(), path)
            }
        };
        let mut current = self.module(&module)?;
        for (k, segment) in rest.iter().enumerate() {
            let last = k + 1 == rest.len();
            let mut child = module.clone();
            child.push(segment.clone());
            if let Some(sub) = self.module(&child) {
                if last {
                    return Some(Target::Module(sub));
                }
                module = child;
                current = sub;
                continue;
            }
            if !last {
                // An item then a path into it (an enum variant, an associated item): not API by itself.
                return None;
            }
            // An item of `current`, or a name `current` itself imports.
            if let Some(i) = self.modules[current].items.iter().position(|item| {
                !matches!(item, syn::Item::Use(_) | syn::Item::Impl(_))
                    && item_name(item).as_deref() == Some(segment.as_str())
            }) {
                return Some(Target::Item(current, i));
            }
            for item in &self.modules[current].items {
                if let syn::Item::Use(u) = item {
                    let mut leaves = Vec::new();
                    self.walk_use(current, &u.tree, Vec::new(), &mut leaves, &mut Vec::new());
                    for (name, _) in leaves {
                        if &name == segment {
                            let mut inner = Vec::new();
                            collect_use_path(&u.tree, Vec::new(), segment, &mut inner);
                            if let Some(p) = inner.first() {
                                return self.resolve(current, p, depth + 1);
                            }
                        }
                    }
                }
            }
            return None;
        }
        Some(Target::Module(current))
    }
}

/// The full path that a `use` tree binds to `name`.
fn collect_use_path(
    tree: &syn::UseTree,
    mut prefix: Vec<String>,
    name: &str,
    out: &mut Vec<Vec<String>>,
) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            collect_use_path(&p.tree, prefix, name, out);
        }
        syn::UseTree::Name(n) if n.ident == name => {
            prefix.push(name.to_string());
            out.push(prefix);
        }
        syn::UseTree::Rename(r) if r.rename == name => {
            prefix.push(r.ident.to_string());
            out.push(prefix);
        }
        syn::UseTree::Group(g) => {
            for t in &g.items {
                collect_use_path(t, prefix.clone(), name, out);
            }
        }
        _ => {}
    }
}

/// Reads the module in `file` and, recursively, its `mod x;` children.
fn load(file: &Path, owns_dir: bool, path: Vec<String>, public: bool, modules: &mut Vec<Module>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // `lib.rs` and `mod.rs` hold their children beside them; `foo.rs` in `foo/`.
    let dir: PathBuf = if owns_dir {
        file.parent().expect("a file has a directory").to_path_buf()
    } else {
        file.with_extension("")
    };
    add_module(parsed.items, &dir, path, public, modules);
}

fn add_module(
    items: Vec<syn::Item>,
    dir: &Path,
    path: Vec<String>,
    public: bool,
    modules: &mut Vec<Module>,
) {
    let items: Vec<syn::Item> = items.into_iter().filter(|i| !excluded(attrs(i))).collect();
    for item in &items {
        let syn::Item::Mod(md) = item else { continue };
        let mut child = path.clone();
        child.push(md.ident.to_string());
        let child_public = public && is_pub_vis(&md.vis);
        match &md.content {
            Some((_, inline)) => add_module(
                inline.clone(),
                &dir.join(md.ident.to_string()),
                child,
                child_public,
                modules,
            ),
            None => {
                let name = md.ident.to_string();
                let flat = dir.join(format!("{name}.rs"));
                if flat.exists() {
                    load(&flat, false, child, child_public, modules);
                } else {
                    load(
                        &dir.join(&name).join("mod.rs"),
                        true,
                        child,
                        child_public,
                        modules,
                    );
                }
            }
        }
    }
    modules.push(Module {
        path,
        items,
        public,
    });
}

/// True for `#[cfg(test)]`, `#[cfg(doctest)]` and `#[doc(hidden)]`.
fn excluded(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let text = tidy(a.meta.to_token_stream());
        text == "cfg(test)" || text == "cfg(doctest)"
    }) || hidden(attrs)
}

fn hidden(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| tidy(a.meta.to_token_stream()) == "doc(hidden)")
}

fn attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn is_pub_vis(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

/// True for `pub` items and `#[macro_export]` macros.
fn is_pub(item: &syn::Item) -> bool {
    match item {
        syn::Item::Const(i) => is_pub_vis(&i.vis),
        syn::Item::Enum(i) => is_pub_vis(&i.vis),
        syn::Item::Fn(i) => is_pub_vis(&i.vis),
        syn::Item::Mod(i) => is_pub_vis(&i.vis),
        syn::Item::Static(i) => is_pub_vis(&i.vis),
        syn::Item::Struct(i) => is_pub_vis(&i.vis),
        syn::Item::Trait(i) => is_pub_vis(&i.vis),
        syn::Item::Type(i) => is_pub_vis(&i.vis),
        syn::Item::Union(i) => is_pub_vis(&i.vis),
        syn::Item::Use(i) => is_pub_vis(&i.vis),
        syn::Item::Macro(i) => i.attrs.iter().any(|a| a.path().is_ident("macro_export")),
        _ => false,
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    Some(match item {
        syn::Item::Const(i) => i.ident.to_string(),
        syn::Item::Enum(i) => i.ident.to_string(),
        syn::Item::Fn(i) => i.sig.ident.to_string(),
        syn::Item::Mod(i) => i.ident.to_string(),
        syn::Item::Static(i) => i.ident.to_string(),
        syn::Item::Struct(i) => i.ident.to_string(),
        syn::Item::Trait(i) => i.ident.to_string(),
        syn::Item::Type(i) => i.ident.to_string(),
        syn::Item::Union(i) => i.ident.to_string(),
        syn::Item::Macro(i) => i.ident.as_ref()?.to_string(),
        _ => return None,
    })
}

/// The last segment of a type path (`Engine` for `crate::Engine<T>`).
fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// The attributes that are API: derives, `non_exhaustive`, `async_trait`, `must_use`, `deprecated`.
fn attrs_of(attrs: &[syn::Attribute]) -> String {
    let mut out = String::new();
    for a in attrs {
        let path = tidy(a.path().to_token_stream());
        if ["derive", "non_exhaustive", "must_use", "deprecated"].contains(&path.as_str())
            || path.ends_with("async_trait")
        {
            out.push_str(&format!("#[{}] ", tidy(a.meta.to_token_stream())));
        }
    }
    out
}

/// The one-line declaration of an item.
fn header(item: &syn::Item) -> String {
    match item {
        syn::Item::Const(i) => format!("pub const {}: {}", i.ident, tidy(i.ty.to_token_stream())),
        syn::Item::Static(i) => format!(
            "pub static {}{}: {}",
            if matches!(i.mutability, syn::StaticMutability::Mut(_)) {
                "mut "
            } else {
                ""
            },
            i.ident,
            tidy(i.ty.to_token_stream())
        ),
        syn::Item::Fn(i) => format!(
            "{}pub {}",
            attrs_of(&i.attrs),
            tidy(i.sig.to_token_stream())
        ),
        syn::Item::Type(i) => format!(
            "pub type {}{} = {}",
            i.ident,
            tidy(i.generics.to_token_stream()),
            tidy(i.ty.to_token_stream())
        ),
        syn::Item::Struct(i) => {
            let private = i.fields.iter().any(|f| !is_pub_vis(&f.vis));
            let shape = match &i.fields {
                syn::Fields::Unit => "",
                syn::Fields::Named(_) if private => " { private fields }",
                syn::Fields::Named(_) => " { .. }",
                syn::Fields::Unnamed(_) if private => "(private fields)",
                syn::Fields::Unnamed(_) => "(..)",
            };
            format!(
                "{}pub struct {}{}{}{}",
                attrs_of(&i.attrs),
                i.ident,
                tidy(i.generics.to_token_stream()),
                shape,
                where_of(&i.generics)
            )
        }
        syn::Item::Union(i) => format!(
            "pub union {}{}",
            i.ident,
            tidy(i.generics.to_token_stream())
        ),
        syn::Item::Enum(i) => format!(
            "{}pub enum {}{}{}",
            attrs_of(&i.attrs),
            i.ident,
            tidy(i.generics.to_token_stream()),
            where_of(&i.generics)
        ),
        syn::Item::Trait(i) => {
            let supertraits = if i.supertraits.is_empty() {
                String::new()
            } else {
                format!(": {}", tidy(i.supertraits.to_token_stream()))
            };
            format!(
                "{}pub {}trait {}{}{}{}",
                attrs_of(&i.attrs),
                if i.unsafety.is_some() { "unsafe " } else { "" },
                i.ident,
                tidy(i.generics.to_token_stream()),
                supertraits,
                where_of(&i.generics)
            )
        }
        syn::Item::Macro(i) => format!(
            "macro_rules! {}",
            i.ident
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        _ => "?".into(),
    }
}

fn where_of(generics: &syn::Generics) -> String {
    generics
        .where_clause
        .as_ref()
        .map(|w| format!(" {}", tidy(w.to_token_stream())))
        .unwrap_or_default()
}

/// The members of an item, each as a suffix of its path: `.field: Type`, `::Variant { .. }`,
/// `::method: fn ...`.
fn members(item: &syn::Item) -> Vec<String> {
    let mut out = Vec::new();
    match item {
        syn::Item::Struct(s) => {
            for (n, f) in s.fields.iter().enumerate() {
                if !is_pub_vis(&f.vis) {
                    continue;
                }
                let name = f
                    .ident
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or(n.to_string());
                out.push(format!(".{name}: {}", tidy(f.ty.to_token_stream())));
            }
        }
        syn::Item::Enum(e) => {
            for v in &e.variants {
                let fields = fields_of(&v.fields);
                let disc = v
                    .discriminant
                    .as_ref()
                    .map(|(_, d)| format!(" = {}", tidy(d.to_token_stream())))
                    .unwrap_or_default();
                out.push(format!(
                    "::{}: {}variant{}{disc}",
                    v.ident,
                    attrs_of(&v.attrs),
                    fields
                ));
            }
        }
        syn::Item::Trait(t) => {
            for member in &t.items {
                match member {
                    syn::TraitItem::Fn(f) => out.push(format!(
                        "::{}: {}{}",
                        f.sig.ident,
                        tidy(f.sig.to_token_stream()),
                        if f.default.is_some() {
                            " (provided)"
                        } else {
                            ""
                        }
                    )),
                    syn::TraitItem::Type(ty) => out.push(format!(
                        "::{}: type {}{}{}",
                        ty.ident,
                        ty.ident,
                        if ty.bounds.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", tidy(ty.bounds.to_token_stream()))
                        },
                        if ty.default.is_some() {
                            " (provided)"
                        } else {
                            ""
                        }
                    )),
                    syn::TraitItem::Const(c) => out.push(format!(
                        "::{}: const {}: {}{}",
                        c.ident,
                        c.ident,
                        tidy(c.ty.to_token_stream()),
                        if c.default.is_some() {
                            " (provided)"
                        } else {
                            ""
                        }
                    )),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

/// A variant's fields without their attributes: ` { a: A, b: B }`, `(A, B)` or nothing.
fn fields_of(fields: &syn::Fields) -> String {
    let each = |f: &syn::Field| match &f.ident {
        Some(name) => format!("{name}: {}", tidy(f.ty.to_token_stream())),
        None => tidy(f.ty.to_token_stream()),
    };
    match fields {
        syn::Fields::Unit => String::new(),
        syn::Fields::Named(n) => format!(
            " {{ {} }}",
            n.named.iter().map(each).collect::<Vec<_>>().join(", ")
        ),
        syn::Fields::Unnamed(u) => format!(
            "({})",
            u.unnamed.iter().map(each).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Tokens as Rust is usually written: `Box<dyn Agent>`, `&self`, `f(a, b) -> T`.
fn tidy(tokens: TokenStream) -> String {
    let mut s = tokens.to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ,", ","),
        (" ;", ";"),
        (" (", "("),
        (" :", ":"),
        ("& ", "&"),
        (" ?", "?"),
        (" .", "."),
        ("# [", "#["),
        ("! (", "!("),
        ("' ", "'"),
    ] {
        while s.contains(from) {
            s = s.replace(from, to);
        }
    }
    // `-> T` and `=> T` keep their spaces; `impl <T>` and `fn f <T>` lose theirs above.
    // Trailing commas and `mut` bindings of arguments are not API.
    s.replace("->", " -> ")
        .replace("  ", " ")
        .replace("  ", " ")
        .replace(",)", ")")
        .replace(", }", " }")
        .replace("(mut ", "(")
        .replace(", mut ", ", ")
}
