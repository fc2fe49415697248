# plugins/stages/filters: rules come with the component.
