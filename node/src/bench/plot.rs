//! `reefdb bench plot A.hgrm B.hgrm -o chart.svg`: one chart comparing several runs.

use super::{hgrm, svg, BenchError};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct PlotArgs {
    /// `.hgrm` files to compare (each becomes one line, named after the file).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write the SVG.
    #[arg(short, long, default_value = "chart.svg")]
    pub output: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "Latency by percentile")]
    pub title: String,
}

pub fn plot(args: &PlotArgs) -> Result<(), BenchError> {
    let mut series = Vec::with_capacity(args.files.len());
    for f in &args.files {
        let text = std::fs::read_to_string(f).map_err(|source| BenchError::Io {
            path: f.clone(),
            source,
        })?;
        let name = f.file_stem().map_or_else(
            || f.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let s = hgrm::parse(&name, &text)
            .map_err(|reason| BenchError::Args(format!("{}: {reason}", f.display())))?;
        series.push(s);
    }
    let doc = svg::render(&args.title, &series);
    std::fs::write(&args.output, doc).map_err(|source| BenchError::Io {
        path: args.output.clone(),
        source,
    })?;
    println!("wrote {}", args.output.display());
    Ok(())
}
