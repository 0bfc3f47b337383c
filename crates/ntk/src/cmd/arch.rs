//! `ntk arch`: the parsed network layer by layer (with shapes for an input
//! shape), or what is wrong with the architecture string.

use crate::ctx::stdout_text;
use crate::error::{Result, usage};
use ntk_features::{ArchSpec, Layer, Shape};

/// `ntk arch`.
pub(crate) fn run(text: &str, input: Option<&[usize]>) -> Result<()> {
    let spec = ArchSpec::parse(text)?;
    let shape = match input {
        None => None,
        Some([d]) => Some(Shape::Vector { dim: *d }),
        Some([h, w, c]) => Some(Shape::Image {
            h: *h,
            w: *w,
            c: *c,
        }),
        Some(other) => {
            return Err(usage(format!(
                "--input-shape takes D or H,W,C, got {} numbers",
                other.len()
            )));
        }
    };
    let arch = match (&spec, shape) {
        (_, Some(s)) => spec.build(s)?,
        (ArchSpec::Layers(a), None) => a.clone(),
        (ArchSpec::Myrtle { depth, .. }, None) => {
            return Err(usage(format!(
                "Myrtle{depth} depends on the image size: pass --input-shape H,W,C"
            )));
        }
        (ArchSpec::WideResnet { .. }, None) => {
            return Err(usage(
                "WideResnet's final pool depends on the image size: pass --input-shape H,W,C",
            ));
        }
    };
    let shapes = match shape {
        Some(s) => Some(arch.shapes(s)?),
        None => None,
    };
    // Widths are infinite, so only the spatial layout is a real shape.
    let describe = |s: Shape| match s {
        Shape::Image { h, w, .. } => format!("{h}x{w} positions"),
        Shape::Vector { .. } => "vector".to_owned(),
    };
    let mut out = String::new();
    if let Some(s) = shape {
        out.push_str(&format!("  {:>3}  {:<60} {s}\n", "", "input"));
    }
    // One line per layer in index order; a branch's layers are indented
    // under their `parallel`, each branch opened by `| branch k`.
    let walk = arch.walk();
    let mut branch_of: Vec<Option<(usize, usize)>> = vec![None; walk.len()];
    {
        fn mark(layers: &[Layer], next: &mut usize, marks: &mut Vec<Option<(usize, usize)>>) {
            for l in layers {
                *next += 1;
                if let Layer::Parallel(branches) = l {
                    for (k, b) in branches.iter().enumerate() {
                        if let Some(slot) = marks.get_mut(*next) {
                            *slot = Some((k + 1, branches.len()));
                        }
                        mark(b, next, marks);
                    }
                }
            }
        }
        let mut next = 0;
        mark(arch.layers(), &mut next, &mut branch_of);
    }
    for (i, (depth, layer)) in walk.iter().enumerate() {
        let indent = "    ".repeat(*depth);
        if let Some((k, n)) = branch_of[i] {
            out.push_str(&format!(
                "  {:>3}  {}| branch {k} of {n}\n",
                "",
                "    ".repeat(depth - 1)
            ));
        }
        let text = match layer {
            Layer::Parallel(b) => format!("parallel ({} branches)", b.len()),
            other => other.to_string(),
        };
        let shown = shapes.as_ref().map(|v| describe(v[i])).unwrap_or_default();
        out.push_str(&format!(
            "  {i:>3}  {:<60} {shown}\n",
            format!("{indent}{text}")
        ));
    }
    stdout_text(&out);
    Ok(())
}
