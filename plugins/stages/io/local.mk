# plugins/stages/io: rules come with the component.
